// Every CQL statement the store runs, with the keyspace baked in (the driver prepares each once, on first use).

const FACT_COLUMNS =
  "order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date, " +
  "payment_id, payment_method, card_last_four, payment_status, payment_datetime";
const ORDER_COLUMNS = "item, quantity, price, shipping_address, order_status";
const PAYMENT_SET = "payment_id = ?, payment_method = ?, card_last_four = ?, payment_status = ?, payment_datetime = ?";
const DEAD_LETTER_COLUMNS =
  "id, reason, details, original, topic, subscription, message_id, type, business_key, attempts, " +
  "first_seen, last_seen, status, next_retry_at, updated_at";
const BY_DAY_COLUMNS = "day, first_seen, id, reason, status, next_retry_at";
const marks = (columns: string) => columns.split(",").map(() => "?").join(", ");

export function cqlFor(ks: string) {
  return {
    insertFact: `INSERT INTO ${ks}.orders_payments_facts (order_id, customer_id, ${ORDER_COLUMNS}, creation_date) ` +
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    insertByCustomer: `INSERT INTO ${ks}.orders_by_customer (customer_id, creation_date, order_id, ${ORDER_COLUMNS}) ` +
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    selectOrderKeys: "SELECT order_id, customer_id, creation_date, price, quantity, payment_id, payment_status " +
      `FROM ${ks}.orders_payments_facts WHERE order_id IN ?`,
    updateFactPayment: `UPDATE ${ks}.orders_payments_facts SET ${PAYMENT_SET} WHERE order_id = ?`,
    updateByCustomerPayment: `UPDATE ${ks}.orders_by_customer SET ${PAYMENT_SET} ` +
      "WHERE customer_id = ? AND creation_date = ? AND order_id = ?",
    insertPaymentById: `INSERT INTO ${ks}.payments_by_id ` +
      "(payment_id, order_id, payment_method, card_last_four, payment_status, payment_datetime) " +
      "VALUES (?, ?, ?, ?, ?, ?)",
    selectFact: `SELECT ${FACT_COLUMNS} FROM ${ks}.orders_payments_facts WHERE order_id = ?`,
    selectCustomerOrders: `SELECT creation_date, order_id FROM ${ks}.orders_by_customer WHERE customer_id = ?`,
    selectDeadLetter: `SELECT ${DEAD_LETTER_COLUMNS} FROM ${ks}.dead_letters WHERE id = ?`,
    selectDeadLettersStamped: `SELECT ${DEAD_LETTER_COLUMNS}, writetime(status) AS w1, ` +
      `writetime(next_retry_at) AS w2, writetime(reason) AS w3 FROM ${ks}.dead_letters WHERE id IN ?`,
    insertDeadLetter: `INSERT INTO ${ks}.dead_letters (${DEAD_LETTER_COLUMNS}) VALUES (${marks(DEAD_LETTER_COLUMNS)})`,
    insertDeadLetterByDay: `INSERT INTO ${ks}.dead_letters_by_day (${BY_DAY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
    insertDeadLetterByDayAt: `INSERT INTO ${ks}.dead_letters_by_day (${BY_DAY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ` +
      "USING TIMESTAMP ?",
    insertDeadLetterDay: `INSERT INTO ${ks}.dead_letter_days (bucket, day) VALUES (?, ?)`,
    insertDue: `INSERT INTO ${ks}.dead_letters_due (reason, next_retry_at, id) VALUES (?, ?, ?)`,
    insertDueAt: `INSERT INTO ${ks}.dead_letters_due (reason, next_retry_at, id) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    deleteDue: `DELETE FROM ${ks}.dead_letters_due WHERE reason = ? AND next_retry_at = ? AND id = ?`,
    selectDue: `SELECT next_retry_at, id FROM ${ks}.dead_letters_due WHERE reason = ? AND next_retry_at <= ?`,
    selectDueFrom: `SELECT next_retry_at, id FROM ${ks}.dead_letters_due ` +
      "WHERE reason = ? AND next_retry_at >= ? AND next_retry_at <= ?",
    selectDays: `SELECT day FROM ${ks}.dead_letter_days WHERE bucket = ?`,
    selectDayKeys: `SELECT day, first_seen, id, reason, status FROM ${ks}.dead_letters_by_day WHERE day = ?`,
    selectRelease: "SELECT release_version FROM system.local",
    selectReplication: "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
    selectKeyspace: "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
    selectTables: "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
  };
}
export type Cql = ReturnType<typeof cqlFor>;
