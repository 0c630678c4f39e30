"""Runbook 003's incident export: one organisation's usage events over a window, as CSV in object storage.

- `incident`: the request (params parsed and refused before anything runs), the CSV streamed with
  `COPY ... TO STDOUT` into the backups' object storage, the export's row in `ops.incident_exports`;
- `tasks`: analytics_incident_export's task bodies.
"""
