// The local queue's SQL: its log, cursors, claims and redeliveries, and the move of outbox rows into the log.

export const SQL = {
  register: `INSERT INTO local_cursors (subscription, topic, claimed_upto)
    VALUES (?, ?, coalesce((SELECT max(seq) FROM local_log), 0)) ON CONFLICT DO NOTHING`,
  subscribed: "SELECT 1 AS one FROM local_cursors WHERE topic = ? LIMIT 1",
  append: "INSERT INTO local_log (topic, message_id, body, attributes) VALUES (?, ?, ?, ?)",
  cursor: "SELECT topic, claimed_upto FROM local_cursors WHERE subscription = ?",
  advance: "UPDATE local_cursors SET claimed_upto = ? WHERE subscription = ?",
  consumed: "UPDATE local_cursors SET consumed = 1 WHERE subscription = ? AND consumed = 0",
  range: "SELECT seq, message_id, body, attributes FROM local_log WHERE topic = ? AND seq BETWEEN ? AND ? ORDER BY seq",
  next: "SELECT seq, message_id, body, attributes FROM local_log WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?",
  expired: "SELECT from_seq, to_seq, attempts FROM local_claims WHERE subscription = ? AND visible_at <= ? ORDER BY from_seq LIMIT 1",
  insertClaim: "INSERT INTO local_claims (subscription, from_seq, to_seq, attempts, visible_at, token) VALUES (?, ?, ?, ?, ?, ?)",
  reclaim: "UPDATE local_claims SET attempts = ?, visible_at = ?, token = ? WHERE subscription = ? AND from_seq = ?",
  extendClaim: "UPDATE local_claims SET visible_at = ? WHERE subscription = ? AND from_seq = ? AND token = ?",
  deleteClaim: "DELETE FROM local_claims WHERE subscription = ? AND from_seq = ? AND token = ?",
  dropClaim: "DELETE FROM local_claims WHERE subscription = ? AND from_seq = ?",
  due: `SELECT r.topic AS topic, r.seq AS seq, r.attempts AS attempts, r.dead_letter_source AS dead_letter_source,
      l.message_id AS message_id, l.body AS body, l.attributes AS attributes
    FROM local_redeliveries r JOIN local_log l ON l.seq = r.seq
    WHERE r.subscription = ? AND r.visible_at <= ? ORDER BY r.visible_at LIMIT ?`,
  single: `INSERT INTO local_redeliveries (subscription, topic, seq, attempts, visible_at, dead_letter_source) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET attempts = excluded.attempts, visible_at = excluded.visible_at`,
  leaseSingle: "UPDATE local_redeliveries SET attempts = ?, visible_at = ? WHERE subscription = ? AND seq = ?",
  ackSingle: "DELETE FROM local_redeliveries WHERE subscription = ? AND seq = ?",
  toDlq: `INSERT INTO local_redeliveries (subscription, topic, seq, attempts, visible_at, dead_letter_source) VALUES ('dlq', ?, ?, 0, ?, ?)
    ON CONFLICT DO NOTHING`,
  // A topic's messages up to the lowest point any of its subscriptions still needs are done: drop them. Once some
  // subscription of the topic has been consumed, one that never was (no process runs its role) holds nothing back,
  // like a queue subscribed later; before that, every cursor holds (a producer started first loses nothing).
  gc: `DELETE FROM local_log WHERE topic = ? AND seq <= min(
      coalesce((SELECT min(claimed_upto) FROM local_cursors WHERE topic = ?
        AND (consumed = 1 OR NOT EXISTS (SELECT 1 FROM local_cursors WHERE topic = ? AND consumed = 1))), 9e18),
      coalesce((SELECT min(c.from_seq) - 1 FROM local_claims c JOIN local_cursors u ON u.subscription = c.subscription WHERE u.topic = ?), 9e18),
      coalesce((SELECT min(seq) - 1 FROM local_redeliveries WHERE topic = ?), 9e18))`,
};

/** The outbox rows a move takes: due now, oldest first (the same rows `Outbox.claim` would read). */
export const OUTBOX_DUE = "SELECT max(seq) AS upto, count(*) AS n FROM (SELECT seq FROM outbox WHERE retry_at <= ? ORDER BY seq LIMIT ?)";
export const OUTBOX_MOVE = {
  // Topics nobody subscribes to take nothing (like SNS without subscriptions); their rows still leave the outbox.
  append: `INSERT INTO local_log (topic, message_id, body, attributes)
    SELECT o.topic, o.id, o.body, o.attributes FROM outbox o
    WHERE o.retry_at <= ? AND o.seq <= ? AND EXISTS (SELECT 1 FROM local_cursors c WHERE c.topic = o.topic) ORDER BY o.seq`,
  remove: "DELETE FROM outbox WHERE retry_at <= ? AND seq <= ?",
};
