// Table and index names of the DynamoDB store (SPEC §7); no SDK here, so the CLI can name tables without loading it.

export interface TableNames {
  facts: string;
  payments: string;
  deadLetters: string;
}

export const tableNames = (prefix: string): TableNames => ({
  facts: `${prefix}orders_payments_facts`,
  payments: `${prefix}payments_by_id`,
  deadLetters: `${prefix}dead_letters`,
});

/** Index names: customer listing; dead-letter listing by status and by reason; due retries. */
export const INDEX = { byCustomer: "by_customer", byStatus: "by_status", byReason: "by_reason", due: "due" } as const;
