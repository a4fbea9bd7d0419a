/*
 * kafka-mock.c - librdkafka's mock cluster as a broker of its own, the
 * reference tools/bench_kafka.sh measures streamfs against: one broker,
 * topic TOPIC with one partition; prints the bootstrap address on a line
 * of its own and serves until standard input closes.
 * Usage: kafka-mock TOPIC
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char err[256], c;
	if (argc != 2) {
		fprintf(stderr, "usage: kafka-mock TOPIC\n");
		return 2;
	}
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
				      sizeof(err));
	if (!rk) {
		fprintf(stderr, "kafka-mock: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc || rd_kafka_mock_topic_create(mc, argv[1], 1, 1)) {
		fprintf(stderr, "kafka-mock: cannot start the mock cluster\n");
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
