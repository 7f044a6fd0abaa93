-- Errors per class of a window (a JSON object of class name to count; NULL when none), for
-- series windows and layer windows.
ALTER TABLE windows ADD COLUMN error_classes TEXT NULL;
ALTER TABLE layer_windows ADD COLUMN error_classes TEXT NULL;
