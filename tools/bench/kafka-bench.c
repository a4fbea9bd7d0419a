/*
 * kafka-bench.c - what tools/bench_kafka.sh measures of a Kafka broker
 * (streamfs's listener or librdkafka's mock cluster), with librdkafka:
 *   produce BROKERS TOPIC N     N messages of 100 bytes, acks=all, the
 *                               default batching; until all are acked
 *   consume BROKERS TOPIC N     from the first offset of partition 0
 *                               until N messages have come, or none for
 *                               3 s (the time counted ends at the last)
 *   latency BROKERS TOPIC N R   N messages at R a second, linger.ms=0,
 *                               acks=all, each carrying its send time; a
 *                               consumer of the same partition from its
 *                               end times each one's arrival
 * Prints one line of key=value figures.  Figures only, never a verdict.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 100

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v);

/* KAFKA_BENCH_CONF="k=v,k=v": more client settings, for both clients. */
static void set_env(rd_kafka_conf_t *conf)
{
	const char *e = getenv("KAFKA_BENCH_CONF");
	char buf[1024], *save = NULL;
	if (!e || strlen(e) >= sizeof(buf))
		return;
	strcpy(buf, e);
	for (char *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (eq) {
			*eq = 0;
			set(conf, kv, eq + 1);
		}
	}
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka-bench: %s=%s: %s\n", k, v, err);
		exit(1);
	}
}

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err)
		failed++;
	else
		delivered++;
}

static rd_kafka_t *producer(const char *brokers, const char *linger)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", brokers);
	set(conf, "acks", "all");
	if (linger)
		set(conf, "linger.ms", linger);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	set_env(conf);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
				      sizeof(err));
	if (!rk) {
		fprintf(stderr, "kafka-bench: %s\n", err);
		exit(1);
	}
	return rk;
}

static void produce_one(rd_kafka_t *rk, const char *topic, const char *p)
{
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
			rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
			RD_KAFKA_V_VALUE((void *)p, MSG_LEN - 1),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			return;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "kafka-bench: produce: %s\n",
				rd_kafka_err2str(e));
			exit(1);
		}
		rd_kafka_poll(rk, 10);
	}
}

static int run_produce(const char *brokers, const char *topic, long n)
{
	rd_kafka_t *rk = producer(brokers, NULL);
	char msg[MSG_LEN];
	int64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		snprintf(msg, sizeof(msg), "%012ld", i);
		memset(msg + 12, 'p', MSG_LEN - 13);
		msg[MSG_LEN - 1] = 0;
		produce_one(rk, topic, msg);
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 600000);
	double s = (double)(now_ns() - t0) / 1e9;
	printf("pattern=produce msgs=%ld acked=%ld failed=%ld secs=%.3f "
	       "msgs_per_s=%.0f\n", n, delivered, failed, s, delivered / s);
	rd_kafka_destroy(rk);
	return failed ? 1 : 0;
}

static rd_kafka_topic_t *consumer(const char *brokers, const char *topic,
				  rd_kafka_t **out, int64_t start)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", brokers);
	set(conf, "fetch.error.backoff.ms", "1");
	set_env(conf);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
				      sizeof(err));
	if (!rk) {
		fprintf(stderr, "kafka-bench: %s\n", err);
		exit(1);
	}
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_consume_start(rkt, 0, start) < 0) {
		fprintf(stderr, "kafka-bench: consume_start: %s\n",
			rd_kafka_err2str(rd_kafka_last_error()));
		exit(1);
	}
	*out = rk;
	return rkt;
}

static int run_consume(const char *brokers, const char *topic, long n)
{
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt = consumer(brokers, topic, &rk,
					 RD_KAFKA_OFFSET_BEGINNING);
	rd_kafka_message_t *batch[4096];
	long got = 0, errs = 0;
	int64_t t0 = now_ns(), last = t0;
	while (got < n && now_ns() - last < 3 * 1000000000LL) {
		ssize_t k = rd_kafka_consume_batch(rkt, 0, 10, batch, 4096);
		for (ssize_t i = 0; i < k; i++) {
			if (batch[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR)
				got++;
			else if (batch[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				errs++;
			rd_kafka_message_destroy(batch[i]);
		}
		if (k > 0)
			last = now_ns();
	}
	double s = (double)(last - t0) / 1e9;
	printf("pattern=consume msgs=%ld errors=%ld secs=%.3f msgs_per_s=%.0f\n",
	       got, errs, s, got / s);
	rd_kafka_consume_stop(rkt, 0);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return got == n ? 0 : 1;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int run_latency(const char *brokers, const char *topic, long n,
		       long rate)
{
	rd_kafka_t *crk, *prk = producer(brokers, "0");
	rd_kafka_topic_t *rkt = consumer(brokers, topic, &crk,
					 RD_KAFKA_OFFSET_END);
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	char msg[MSG_LEN];
	long sent = 0, got = 0;
	/* Timing starts once the consumer is fetching at the end: a warm-up
	 * message every 100 ms until one comes back (at most 10 s). */
	memset(msg, 'w', MSG_LEN - 1);
	msg[MSG_LEN - 1] = 0;
	for (int i = 0, seen = 0; !seen && i < 100; i++) {
		produce_one(prk, topic, msg);
		rd_kafka_flush(prk, 1000);
		for (int64_t t = now_ns(); !seen && now_ns() - t < 100000000;) {
			rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 10);
			if (m) {
				seen = !m->err && m->len > 0 &&
				       ((char *)m->payload)[0] == 'w';
				rd_kafka_message_destroy(m);
			}
		}
	}
	/* Drain the other warm-up messages still coming. */
	for (rd_kafka_message_t *m; (m = rd_kafka_consume(rkt, 0, 200));)
		rd_kafka_message_destroy(m);
	int64_t gap = 1000000000LL / rate, next = now_ns(), deadline = 0;
	while (got < n && (!deadline || now_ns() < deadline)) {
		if (sent < n && now_ns() >= next) {
			snprintf(msg, sizeof(msg), "%020" PRId64, now_ns());
			memset(msg + 20, 'l', MSG_LEN - 21);
			msg[MSG_LEN - 1] = 0;
			produce_one(prk, topic, msg);
			rd_kafka_poll(prk, 0);
			next += gap;
			if (++sent == n)
				deadline = now_ns() + 10 * 1000000000LL;
		}
		rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 0);
		if (m) {
			if (!m->err && m->len >= 20 && got < n &&
			    ((char *)m->payload)[0] != 'w')
				lat[got++] = now_ns() - strtoll(m->payload, NULL, 10);
			rd_kafka_message_destroy(m);
		}
		rd_kafka_poll(prk, 0);
	}
	qsort(lat, (size_t)got, sizeof(*lat), cmp64);
#define PCT(p) (got ? lat[(long)((got - 1) * (p))] / 1000.0 : -1)
	printf("pattern=latency msgs=%ld sent=%ld rate=%ld p50_us=%.0f "
	       "p99_us=%.0f p999_us=%.0f\n", got, sent, rate, PCT(0.5),
	       PCT(0.99), PCT(0.999));
	rd_kafka_flush(prk, 10000);
	rd_kafka_consume_stop(rkt, 0);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(crk);
	rd_kafka_destroy(prk);
	free(lat);
	return got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "produce") == 0)
		return run_produce(argv[2], argv[3], atol(argv[4]));
	if (argc >= 5 && strcmp(argv[1], "consume") == 0)
		return run_consume(argv[2], argv[3], atol(argv[4]));
	if (argc >= 6 && strcmp(argv[1], "latency") == 0)
		return run_latency(argv[2], argv[3], atol(argv[4]),
				   atol(argv[5]));
	fprintf(stderr, "usage: kafka-bench produce|consume BROKERS TOPIC N\n"
		"       kafka-bench latency BROKERS TOPIC N RATE\n");
	return 2;
}
