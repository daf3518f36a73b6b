-- View of votes per candidate, ranked within each election.
CREATE VIEW election_results WITH (security_invoker = true) AS
SELECT e.id                         AS election_id,
       e.title                      AS election_title,
       e.status                     AS election_status,
       c.id                         AS candidate_id,
       c.member_id                  AS member_id,
       m.first_name || ' ' || m.last_name AS candidate_name,
       count(b.id)                  AS votes,
       rank() OVER (PARTITION BY e.id ORDER BY count(b.id) DESC) AS position,
       rank() OVER (PARTITION BY e.id ORDER BY count(b.id) DESC) <= e.seats AS elected
  FROM elections AS e
  JOIN candidates AS c ON c.election_id = e.id AND NOT c.withdrawn
  JOIN members AS m ON m.id = c.member_id
  LEFT JOIN ballots AS b ON b.candidate_id = c.id AND b.election_id = e.id
 GROUP BY e.id, c.id, m.id;
