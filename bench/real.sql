-- bench/real.sql: make bench-real's sqlite workload. It only reads the
-- database; a 256 MiB page cache and in-memory temporary tables make the
-- pages, the sorts and the temporary b-trees malloc's.
PRAGMA cache_size = -262144;
PRAGMA temp_store = MEMORY;
SELECT b, count(*), sum(a) FROM t GROUP BY b ORDER BY 2 DESC LIMIT 3;
SELECT count(*) FROM t WHERE a BETWEEN 1000 AND 200000;
CREATE TEMP TABLE u AS SELECT id, a, s FROM t WHERE b < 250;
CREATE INDEX temp.u_s ON u(s);
SELECT count(DISTINCT substr(s, 1, 4)) FROM u;
SELECT id FROM t ORDER BY s LIMIT 1 OFFSET 100000;
