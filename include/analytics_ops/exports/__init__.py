"""Runbook 003's incident export: one organisation's usage events over a window, as CSV in object storage.

- `incident`: the request (params parsed and refused before anything runs), the CSV streamed with
  `COPY ... TO STDOUT` into the backups' object storage, the export's row in `ops.incident_exports`,
  the requests of firing alerts (recorded by `alerting.export_requests`) taken by a run;
- `tasks`: the task bodies of analytics_incident_export and analytics_incident_export_on_alert.
"""
