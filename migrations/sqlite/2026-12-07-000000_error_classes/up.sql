-- Errors per class of a window (a JSON object of class name to count; NULL when none), for
-- series windows and layer windows; and the latency sketch of a layer window (its entities'
-- merged, encoded as the windows' own), for final layer windows.
ALTER TABLE windows ADD COLUMN error_classes TEXT NULL;
ALTER TABLE layer_windows ADD COLUMN error_classes TEXT NULL;
ALTER TABLE layer_windows ADD COLUMN latency_sketch BLOB NULL;
