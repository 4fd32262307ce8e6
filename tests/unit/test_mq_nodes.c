/*
 * test_mq_nodes.c — the broker node lists of common/mq/mq_nodes.h, without
 * a broker: one URL is a list of one, commas separate, blanks and empty
 * entries are dropped, entries past MQ_MAX_NODES are not counted, a URL
 * that does not fit the caller's buffer is refused, and host:port is what
 * the URL parser makes of each entry (its default port included).
 */
#include "test.h"

#include "mq_nodes.h"

TEST(one_url_is_a_list_of_one)
{
    char out[256];
    const char *u = "amqp://u:p@127.0.0.1:5672/";
    CHECK_INT(mq_node_count(u), 1);
    CHECK_INT(mq_node_url(u, 0, out, sizeof out), 0);
    CHECK_STR(out, u);
    CHECK_INT(mq_node_url(u, 1, out, sizeof out), -1);
    CHECK_INT(mq_node_where(u, 0, out, sizeof out), 0);
    CHECK_STR(out, "127.0.0.1:5672");
}

TEST(commas_separate_nodes)
{
    char out[256];
    const char *l = "amqp://u:p@127.0.0.1:5672/vh,amqp://u:p@127.0.0.1:5673/vh,amqp://u:p@h3:5674/vh";
    CHECK_INT(mq_node_count(l), 3);
    CHECK_INT(mq_node_url(l, 0, out, sizeof out), 0);
    CHECK_STR(out, "amqp://u:p@127.0.0.1:5672/vh");
    CHECK_INT(mq_node_url(l, 1, out, sizeof out), 0);
    CHECK_STR(out, "amqp://u:p@127.0.0.1:5673/vh");
    CHECK_INT(mq_node_url(l, 2, out, sizeof out), 0);
    CHECK_STR(out, "amqp://u:p@h3:5674/vh");
    CHECK_INT(mq_node_url(l, 3, out, sizeof out), -1);
    CHECK_INT(mq_node_url(l, -1, out, sizeof out), -1);
    CHECK_INT(mq_node_where(l, 2, out, sizeof out), 0);
    CHECK_STR(out, "h3:5674");
}

TEST(blanks_and_empty_entries_are_dropped)
{
    char out[256];
    const char *l = " amqp://a@h1/ ,, \tamqp://b@h2:7/,";
    CHECK_INT(mq_node_count(l), 2);
    CHECK_INT(mq_node_url(l, 0, out, sizeof out), 0);
    CHECK_STR(out, "amqp://a@h1/");
    CHECK_INT(mq_node_url(l, 1, out, sizeof out), 0);
    CHECK_STR(out, "amqp://b@h2:7/");
    CHECK_INT(mq_node_where(l, 0, out, sizeof out), 0);
    CHECK_STR(out, "h1:5672"); /* the parser's default port */
    CHECK_INT(mq_node_count(""), 0);
    CHECK_INT(mq_node_count(" , ,"), 0);
    CHECK_INT(mq_node_count(NULL), 0);
    CHECK_INT(mq_node_url(NULL, 0, out, sizeof out), -1);
}

TEST(too_many_or_too_long)
{
    char list[1024] = "", out[64];
    for (int i = 0; i < MQ_MAX_NODES + 3; i++) {
        char one[40];
        snprintf(one, sizeof one, "%samqp://h%d/", i ? "," : "", i);
        strcat(list, one);
    }
    CHECK_INT(mq_node_count(list), MQ_MAX_NODES);
    CHECK_INT(mq_node_url(list, MQ_MAX_NODES - 1, out, sizeof out), 0);
    CHECK_INT(mq_node_url(list, MQ_MAX_NODES, out, sizeof out), -1);
    char tiny[8];
    CHECK_INT(mq_node_url("amqp://h0/", 0, tiny, sizeof tiny), -1);     /* 10 bytes + NUL */
    CHECK_INT(mq_node_url("amqp://h/", 0, tiny, sizeof tiny), -1);      /* 9 + NUL */
    char fits[10];
    CHECK_INT(mq_node_url("amqp://h/", 0, fits, sizeof fits), 0);
    CHECK_STR(fits, "amqp://h/");
}

TEST(an_entry_that_is_not_a_url)
{
    char out[64];
    const char *l = "amqp://h1/,http://h2/,nonsense";
    CHECK_INT(mq_node_count(l), 3); /* counted: the connect says what is wrong with it */
    CHECK_INT(mq_node_where(l, 0, out, sizeof out), 0);
    CHECK_INT(mq_node_where(l, 1, out, sizeof out), -1);
    CHECK_INT(mq_node_where(l, 2, out, sizeof out), -1);
}

int main(void)
{
    RUN(one_url_is_a_list_of_one);
    RUN(commas_separate_nodes);
    RUN(blanks_and_empty_entries_are_dropped);
    RUN(too_many_or_too_long);
    RUN(an_entry_that_is_not_a_url);
    return test_done();
}
