"""The notifier's Prometheus metrics, in one place for every part that counts."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERTS_RECEIVED = Counter(
    "gospublic_notifier_alerts_received_total", "Alert events taken into the pipeline", ["state"]
)
for _state in ("firing", "resolved"):
    ALERTS_RECEIVED.labels(state=_state)
SCORES_RECEIVED = Counter(
    "gospublic_notifier_scores_received_total", "ScoresUpdated events taken in for the digest"
)
DEAD_LETTERS = Counter(
    "gospublic_notifier_dead_letters_total", "Malformed ALERTS messages sent to the dead letters"
)
NOTIFICATIONS = Counter(
    "gospublic_notifier_notifications_total",
    "Notifications by receiver (route/kind) and result (sent, failed, silent)",
    ["receiver", "result"],
)
GROUPS_PENDING = Gauge(
    "gospublic_notifier_groups_pending", "Alert groups with news not yet delivered to a receiver"
)
ALERTS_MUTED = Gauge(
    "gospublic_notifier_alerts_muted", "Firing alerts muted right now, by reason", ["reason"]
)
SILENCES_ACTIVE = Gauge("gospublic_notifier_silences_active", "Silences in force right now")
SEND_SECONDS = Histogram(
    "gospublic_notifier_send_seconds",
    "Time to deliver one notification, retries included",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DIGESTS = Counter(
    "gospublic_notifier_digests_total", "Weekly digest e-mails by result (sent, failed)", ["result"]
)
for _result in ("sent", "failed"):
    DIGESTS.labels(result=_result)
