-- bench/real_gen.sql: the database of make bench-real's sqlite workload,
-- @ROWS@ rows (bench/external.sh fills in EXT_SQLITE_ROWS) of about 270
-- bytes each and an index: 1,500,000 rows make about 400 MiB.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, s TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < @ROWS@)
INSERT INTO t SELECT x, abs(random()) % 1000000, abs(random()) % 1000,
                     hex(randomblob(120)) FROM c;
CREATE INDEX t_a ON t(a);
