/*
 * mq_nodes.h — a broker setting that names several RabbitMQ nodes of one
 * cluster: amqp:// URLs separated by commas, e.g.
 *
 *     amqp://u:p@10.0.0.1:5672/,amqp://u:p@10.0.0.2:5672/
 *
 * mq_connect and mq_connect_retry (mq.h) take such a list wherever they
 * take a URL, and a single URL is the list of one. The split is plain: a
 * comma always separates two URLs (a comma inside a user name or password
 * must be written %2C, which the URL parser decodes); blanks around each
 * URL are dropped, and so are empty entries ("a,,b", a trailing comma). What
 * each URL holds is left to the URL parser at connect time.
 */
#ifndef RS_MQ_NODES_H
#define RS_MQ_NODES_H

#include <stddef.h>

/* The most nodes a list may name; entries past it are ignored (logged by
 * the connect). A RabbitMQ cluster has 3, 5 or 7 nodes. */
#define MQ_MAX_NODES 9

/* How many URLs list names (0 for NULL or a list of nothing but commas and
 * blanks), at most MQ_MAX_NODES. */
int mq_node_count(const char *list);

/* Copies the i-th URL of list (from 0) into out (size n): 0, or -1 when
 * there is no such entry or it does not fit. */
int mq_node_url(const char *list, int i, char *out, size_t n);

/* "host:port" of the i-th URL into out (size n), as the connect logs it;
 * -1 when there is no such entry or it does not parse as an amqp URL. The
 * port defaults to 5672 as in the URL parser. */
int mq_node_where(const char *list, int i, char *out, size_t n);

#endif
