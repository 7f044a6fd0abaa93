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
