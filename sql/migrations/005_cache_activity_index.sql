-- Cache warming finds active users by their tasks' last change.
CREATE INDEX IF NOT EXISTS tasks_updated_at_idx ON tasks (updated_at) WHERE NOT deleted;
