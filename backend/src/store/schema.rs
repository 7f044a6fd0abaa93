// The diesel view of `migrations/*/up.sql` (both backends share one schema). Keep in step
// with the migrations; `store::db::tests` runs them and queries every table through this.

diesel::table! {
    windows (layer, entity, window_start, window_len_ms) {
        layer -> Text,
        entity -> Text,
        window_start -> BigInt,
        window_len_ms -> BigInt,
        events -> BigInt,
        bytes -> BigInt,
        packets -> BigInt,
        connections -> BigInt,
        requests -> BigInt,
        errors -> BigInt,
        bytes_min -> BigInt,
        bytes_max -> BigInt,
        latency_sketch -> Nullable<Binary>,
        partition_id -> Integer,
        is_final -> Bool,
        closed_at_ms -> Nullable<BigInt>,
        error_classes -> Nullable<Text>,
    }
}

diesel::table! {
    partition_offsets (topic, partition_id) {
        topic -> Text,
        partition_id -> Integer,
        next_offset -> BigInt,
        owner -> Text,
        max_event_ms -> Nullable<BigInt>,
        watermark_ms -> Nullable<BigInt>,
        replay_from -> Nullable<BigInt>,
        source_clocks -> Nullable<Text>,
        origin_seqs -> Nullable<Text>,
    }
}

diesel::table! {
    late_drops (layer, entity) {
        layer -> Text,
        entity -> Text,
        dropped -> BigInt,
        last_event_ms -> BigInt,
    }
}

diesel::table! {
    ingest_files (name) {
        name -> Text,
        size -> BigInt,
        records -> BigInt,
        errors -> BigInt,
        status -> Text,
        node -> Text,
        acked -> BigInt,
        lease_until_ms -> Nullable<BigInt>,
        claimed_ms -> Nullable<BigInt>,
        finished_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    ingest_errors (id) {
        id -> BigInt,
        file -> Text,
        line -> BigInt,
        reason -> Text,
    }
}

diesel::table! {
    anomalies (layer, entity, metric, window_start, window_len_ms) {
        layer -> Text,
        entity -> Text,
        metric -> Text,
        window_start -> BigInt,
        window_len_ms -> BigInt,
        value -> Double,
        score -> Double,
    }
}

diesel::table! {
    layer_windows (layer, window_start, window_len_ms) {
        layer -> Text,
        window_start -> BigInt,
        window_len_ms -> BigInt,
        events -> BigInt,
        bytes -> BigInt,
        packets -> BigInt,
        connections -> BigInt,
        requests -> BigInt,
        errors -> BigInt,
        is_final -> Bool,
        closed_at_ms -> Nullable<BigInt>,
        sources -> Integer,
        error_classes -> Nullable<Text>,
        latency_sketch -> Nullable<Binary>,
    }
}

diesel::table! {
    layer_sources (layer, window_len_ms, source_partition) {
        layer -> Text,
        window_len_ms -> BigInt,
        source_partition -> Integer,
        closed_through -> BigInt,
    }
}

diesel::table! {
    layer_progress (layer, window_len_ms) {
        layer -> Text,
        window_len_ms -> BigInt,
        final_through -> BigInt,
    }
}

diesel::table! {
    users (name) {
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_ms -> BigInt,
        last_login_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_name -> Text,
        csrf_token -> Text,
        created_ms -> BigInt,
        expires_ms -> BigInt,
        revoked -> Bool,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        prefix -> Text,
        name -> Text,
        role -> Text,
        created_by -> Text,
        created_ms -> BigInt,
        expires_ms -> Nullable<BigInt>,
        revoked -> Bool,
        last_used_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at_ms -> BigInt,
        actor -> Text,
        address -> Nullable<Text>,
        action -> Text,
        target -> Text,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_name));
diesel::allow_tables_to_appear_in_same_query!(sessions, users);

diesel::table! {
    admin_settings (kind, name) {
        kind -> Text,
        name -> Text,
        spec -> Text,
        updated_ms -> BigInt,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        rule -> Text,
        layer -> Text,
        entity -> Text,
        metric -> Text,
        state -> Text,
        since_ms -> BigInt,
        changed_ms -> BigInt,
        value -> Double,
        threshold -> Double,
        signal_name -> Text,
        acknowledged -> Bool,
        acknowledged_by -> Nullable<Text>,
        silenced_until_ms -> Nullable<BigInt>,
        precursor -> Nullable<Text>,
        partition_id -> Integer,
    }
}

diesel::table! {
    alert_changes (alert_id, at_ms, to_state) {
        alert_id -> Text,
        at_ms -> BigInt,
        to_state -> Text,
        from_state -> Text,
        rule -> Text,
        layer -> Text,
        entity -> Text,
        metric -> Text,
        value -> Double,
        notify -> Bool,
    }
}

diesel::table! {
    series_trends (layer, entity, metric) {
        layer -> Text,
        entity -> Text,
        metric -> Text,
        direction -> Text,
        slope_per_day -> Double,
        slope_low -> Double,
        slope_high -> Double,
        p_value -> Double,
        buckets -> Integer,
        at_ms -> BigInt,
    }
}

diesel::table! {
    series_runways (layer, entity, metric) {
        layer -> Text,
        entity -> Text,
        metric -> Text,
        capacity -> Double,
        current_value -> Double,
        days_until_full -> Nullable<Double>,
        state -> Text,
        at_ms -> BigInt,
    }
}

diesel::table! {
    analysis_state (partition_id, layer, entity) {
        partition_id -> Integer,
        layer -> Text,
        entity -> Text,
        last_start_ms -> BigInt,
        state -> Text,
    }
}

diesel::table! {
    notifications (receiver, alert_id, at_ms, to_state) {
        receiver -> Text,
        alert_id -> Text,
        at_ms -> BigInt,
        to_state -> Text,
        payload -> Text,
        attempts -> Integer,
        due_ms -> BigInt,
        claimed_until_ms -> Nullable<BigInt>,
        sent_ms -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}
