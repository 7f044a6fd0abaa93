DROP TABLE notifications;
DROP TABLE analysis_state;
DROP TABLE series_runways;
DROP TABLE series_trends;
DROP TABLE alert_changes;
DROP TABLE alerts;
