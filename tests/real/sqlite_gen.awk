# sqlite_gen.awk — writes a deterministic SQL workload for sqlite3 on stdout.
#
#   awk -f sqlite_gen.awk [-v rows_scale=1]
#
# Pure awk with its own Park–Miller generator (exact in doubles), so the
# script is byte-identical under mawk and gawk. About 50k rows: customers,
# products, orders with blobs of very different sizes (a few reach the
# large tier), order items; then indexes, joins, aggregates, window
# functions, JSON, updates that grow text/blobs, deletes, VACUUM and an
# integrity check. Every query has a total ORDER BY so its output is fully
# determined by the data.

function rnd(n) { seed = (seed * 16807) % 2147483647; return seed % n }
function word() { return W[rnd(NW)] }
function words(n,   s, i) {
    s = word()
    for (i = 1; i < n; i++) s = s " " word()
    return s
}
function sq(s) { gsub(/'/, "''", s); return "'" s "'" }
# n random bytes as an X'..' literal, cut from a pre-generated hex pool.
function blob(n,   start) {
    if (n == 0) return "X''"
    start = 2 * rnd(POOL - n) + 1
    return "X'" substr(hexpool, start, 2 * n) "'"
}
# Mostly small sizes, some mid-sized, a few large.
function blobsize(  r) {
    r = rnd(1000)
    if (r < 930) return rnd(300)
    if (r < 997) return 300 + rnd(3700)
    return 20000 + rnd(50000)
}

BEGIN {
    seed = 20240607
    if (rows_scale == "") rows_scale = 1
    NCUST = 4000 * rows_scale; NPROD = 1000 * rows_scale
    NORD = 15000 * rows_scale
    split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu " \
          "nu xi omicron pi rho sigma tau upsilon phi chi psi omega red green " \
          "blue amber violet copper silver golden north south east west river " \
          "stone forest harbour meadow lantern quartz walnut ember cobalt " \
          "o'brien d'arcy naïve café straße", W, " ")
    NW = 0; for (k in W) NW++
    # W is 1-based; rnd(NW) is 0-based: shift.
    for (i = 1; i <= NW; i++) W[i - 1] = W[i]
    split("Lisbon Oslo Quito Hanoi Accra Lima Perth Riga Sofia Tunis Baku " \
          "Dakar Kyiv Porto Turin Nagoya", CITY, " ")
    NCITY = 16
    split("new paid shipped done returned", STATUS, " ")
    POOL = 80000
    hx = "0123456789abcdef"
    hexpool = ""
    chunk = ""
    for (i = 0; i < 4096; i++)
        chunk = chunk substr(hx, rnd(16) + 1, 1) substr(hx, rnd(16) + 1, 1)
    for (i = 0; i < POOL / 4096 + 1; i++) {
        # vary each copy so the pool is not periodic
        hexpool = hexpool substr(chunk, 2 * rnd(2048) + 1) substr(chunk, 1, 8192)
    }
    hexpool = substr(hexpool, 1, 2 * POOL)

    print ".bail on"
    print ".headers on"
    print ".mode list"
    print "PRAGMA cache_size = 256;"
    print "PRAGMA foreign_keys = ON;"
    print "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, city TEXT, score REAL, bio TEXT);"
    print "CREATE TABLE products(id INTEGER PRIMARY KEY, sku TEXT UNIQUE NOT NULL, title TEXT, price REAL, image BLOB);"
    print "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), day INTEGER, status TEXT, note TEXT, payload BLOB);"
    print "CREATE TABLE items(order_id INTEGER NOT NULL REFERENCES orders(id), product_id INTEGER NOT NULL REFERENCES products(id), qty INTEGER, price REAL, PRIMARY KEY(order_id, product_id)) WITHOUT ROWID;"

    print "BEGIN;"
    for (i = 1; i <= NCUST; i++) {
        name = word() " " word()
        r = rnd(100)
        bio = r < 70 ? words(1 + rnd(12)) : (r < 97 ? words(20 + rnd(150)) : words(400 + rnd(900)))
        printf "INSERT INTO customers VALUES(%d,%s,%s,%s,%d.%02d,%s);\n", i, sq(name),
            sq(W[rnd(NW)] "." i "@example.org"), sq(CITY[1 + rnd(NCITY)]),
            rnd(1000), rnd(100), sq(bio)
        if (i % 1000 == 0) { print "COMMIT;"; print "BEGIN;" }
    }
    print "COMMIT;"

    # Products: multi-row VALUES statements.
    print "BEGIN;"
    for (i = 1; i <= NPROD; i += 50) {
        printf "INSERT INTO products VALUES"
        for (j = i; j < i + 50 && j <= NPROD; j++) {
            printf "%s(%d,'SKU-%05d',%s,%d.%02d,%s)", (j > i ? "," : ""), j, j,
                sq(words(2 + rnd(6))), 1 + rnd(500), rnd(100), blob(rnd(100) < 98 ? rnd(2000) : 10000 + rnd(30000))
        }
        print ";"
    }
    print "COMMIT;"

    print "BEGIN;"
    nitems = 0
    for (i = 1; i <= NORD; i++) {
        printf "INSERT INTO orders VALUES(%d,%d,%d,%s,%s,%s);\n", i, 1 + rnd(NCUST),
            rnd(365), sq(STATUS[1 + rnd(5)]), (rnd(10) < 3 ? "NULL" : sq(words(1 + rnd(30)))),
            blob(blobsize())
        n = rnd(5)
        if (n > 0) {
            base = rnd(NPROD); step = 1 + rnd(97)
            for (k = 0; k < n; k++) {
                printf "INSERT INTO items VALUES(%d,%d,%d,%d.%02d);\n", i,
                    1 + (base + k * step) % NPROD, 1 + rnd(20), 1 + rnd(300), rnd(100)
                nitems++
            }
        }
        if (i % 2000 == 0) { print "COMMIT;"; print "BEGIN;" }
    }
    print "COMMIT;"

    print "SELECT 'rows' AS what, (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM items) AS items;"

    print "CREATE INDEX orders_cust ON orders(customer_id, day);"
    print "CREATE INDEX items_prod ON items(product_id, qty);"
    print "CREATE INDEX customers_city ON customers(city, score DESC);"
    print "CREATE INDEX customers_email ON customers(lower(email));"
    print "CREATE INDEX orders_open ON orders(status, day) WHERE status <> 'done';"
    print "CREATE INDEX customers_bio ON customers(bio);"
    print "ANALYZE;"

    print "SELECT city, count(*) AS n, printf('%.3f', avg(score)) AS avg_score, max(length(bio)) AS longest_bio FROM customers GROUP BY city ORDER BY city;"
    print "SELECT c.id, c.name, count(DISTINCT o.id) AS orders, printf('%.2f', sum(i.qty * i.price)) AS spend FROM customers c JOIN orders o ON o.customer_id = c.id JOIN items i ON i.order_id = o.id GROUP BY c.id ORDER BY sum(i.qty * i.price) DESC, c.id LIMIT 25;"
    print "SELECT sku, total, rank() OVER (ORDER BY total DESC) AS rnk, sum(total) OVER (ORDER BY total DESC, sku ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM (SELECT p.sku, sum(i.qty) AS total FROM products p JOIN items i ON i.product_id = p.id GROUP BY p.id) ORDER BY total DESC, sku LIMIT 30;"
    print "SELECT day / 30 AS month, status, count(*) AS n, sum(length(payload)) AS payload_bytes, count(note) AS with_note FROM orders GROUP BY 1, 2 ORDER BY 1, 2;"
    print "SELECT o.id, group_concat(p.sku, ',') AS skus, sum(i.qty) AS qty FROM orders o JOIN items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id WHERE o.id % 331 = 0 GROUP BY o.id ORDER BY o.id;"
    print "SELECT json_group_array(json_object('id', id, 'name', name, 'city', city)) AS js FROM (SELECT id, name, city FROM customers WHERE id % 97 = 0 ORDER BY id);"
    print "WITH RECURSIVE seq(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || printf('%d', n % 10) FROM seq WHERE n < 2000) SELECT count(*), sum(length(s)), substr(max(s), 1, 40) FROM seq;"
    print "SELECT count(*) AS like_hits FROM customers WHERE bio LIKE '%alpha%omega%';"
    print "SELECT count(*) AS glob_hits FROM customers WHERE bio GLOB '*[Ss]tone*river*';"
    print "SELECT name, length(bio) AS len, substr(bio, 1, 30) AS head FROM customers ORDER BY bio DESC, id LIMIT 10 OFFSET 100;"
    print "SELECT status, count(*), min(day), max(day) FROM orders WHERE status <> 'done' AND day BETWEEN 100 AND 200 GROUP BY status ORDER BY status;"
    print "SELECT lower(email) AS e, id FROM customers WHERE lower(email) LIKE 'kappa.%' ORDER BY e LIMIT 5;"
    print "SELECT p.id, p.sku, length(p.image) AS img, hex(substr(p.image, 1, 6)) AS head FROM products p ORDER BY length(p.image) DESC, p.id LIMIT 10;"

    # Growing and shrinking updates.
    print "BEGIN;"
    print "UPDATE customers SET bio = bio || ' ' || replace(hex(zeroblob(id % 3000)), '00', 'xy') WHERE id % 50 = 0;"
    print "UPDATE customers SET score = score * 1.5 + 1 WHERE city IN ('Oslo', 'Lima', 'Kyiv');"
    print "UPDATE orders SET payload = payload || zeroblob(40000 + id) WHERE id % 500 = 0;"
    print "UPDATE orders SET payload = substr(payload, 1, 16), note = upper(note) WHERE id % 7 = 3;"
    print "UPDATE orders SET status = 'archived' WHERE day < 30 AND status = 'done';"
    print "UPDATE products SET price = round(price * 0.9, 2), title = title || ' (sale)' WHERE id % 3 = 0;"
    print "COMMIT;"
    print "SELECT count(*) AS n, sum(length(bio)) AS bio_bytes, max(length(bio)) AS max_bio FROM customers;"
    print "SELECT count(*) AS n, sum(length(payload)) AS payload_bytes, max(length(payload)) AS max_payload, count(DISTINCT status) AS statuses FROM orders;"

    print "BEGIN;"
    print "DELETE FROM items WHERE qty % 7 = 0;"
    print "DELETE FROM items WHERE order_id IN (SELECT id FROM orders WHERE status = 'returned');"
    print "DELETE FROM orders WHERE status = 'returned';"
    print "DELETE FROM orders WHERE id NOT IN (SELECT order_id FROM items) AND id % 2 = 0;"
    print "DELETE FROM items WHERE order_id IN (SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.id % 11 = 0);"
    print "DELETE FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE id % 11 = 0);"
    print "DELETE FROM customers WHERE id % 11 = 0 OR id NOT IN (SELECT customer_id FROM orders);"
    print "COMMIT;"
    print "SELECT 'after delete' AS what, (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM items) AS items;"

    print "CREATE TEMP TABLE city_stats AS SELECT c.city, count(o.id) AS orders, sum(length(o.payload)) AS bytes FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.city;"
    print "SELECT * FROM city_stats ORDER BY orders DESC, city;"
    print "SELECT freelist_count > 0 AS has_free_pages FROM pragma_freelist_count;"
    print "VACUUM;"
    print "PRAGMA integrity_check;"
    print "PRAGMA foreign_key_check;"
    print "PRAGMA page_count;"
    print "SELECT count(*) AS orphan_items FROM items WHERE order_id NOT IN (SELECT id FROM orders);"
    print "SELECT c.city, count(DISTINCT c.id) AS customers, count(i.order_id) AS lines, printf('%.2f', total(i.qty * i.price)) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id LEFT JOIN items i ON i.order_id = o.id GROUP BY c.city ORDER BY c.city;"
    print "SELECT printf('%.2f', total(price)) AS product_total, sum(length(title)) AS title_bytes, sum(length(image)) AS image_bytes FROM products;"
    print "SELECT id, name, printf('%.2f', score) AS score, length(bio) AS bio_len FROM customers ORDER BY score DESC, id LIMIT 15;"
    print "SELECT 'done' AS status;"
}
