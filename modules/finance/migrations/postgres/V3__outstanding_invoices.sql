-- View of open invoices with what is still owed (invoice total minus payments received).
CREATE VIEW outstanding_invoices WITH (security_invoker = true) AS
SELECT i.id                                    AS invoice_id,
       i.number                                AS number,
       i.member_id                             AS member_id,
       m.email                                 AS member_email,
       i.currency                              AS currency,
       i.amount_cents                          AS amount_cents,
       coalesce(p.paid_cents, 0)               AS paid_cents,
       i.amount_cents - coalesce(p.paid_cents, 0) AS outstanding_cents,
       i.due_on                                AS due_on,
       i.due_on < current_date                 AS overdue
  FROM invoices AS i
  JOIN members AS m ON m.id = i.member_id
  LEFT JOIN (SELECT invoice_id, sum(amount_cents)::bigint AS paid_cents
               FROM payments
              GROUP BY invoice_id) AS p ON p.invoice_id = i.id
 WHERE i.status = 'open'
   AND i.amount_cents > coalesce(p.paid_cents, 0);
