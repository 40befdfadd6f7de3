/*
 * Our declarations of the librdkafka 2.x functions and types this package
 * uses, copied from the rdkafka.h of the librdkafka that
 * confluent-kafka-go bundles (librdkafka_vendor/, 2.11.1 for
 * confluent-kafka-go v2.11.1). Only what is used; the values of the enum
 * constants are checked against the library by rdk_test.go.
 */
#ifndef FC_RDK_H
#define FC_RDK_H

#include <stddef.h>
#include <stdint.h>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_topic_conf_s rd_kafka_topic_conf_t;

typedef int rd_kafka_resp_err_t;	/* an enum in rdkafka.h */
typedef int rd_kafka_conf_res_t;	/* an enum in rdkafka.h */
typedef int rd_kafka_type_t;		/* an enum in rdkafka.h */

#define RD_KAFKA_PRODUCER 0
#define RD_KAFKA_CONF_OK 0
#define RD_KAFKA_RESP_ERR_NO_ERROR 0
#define RD_KAFKA_RESP_ERR__MSG_TIMED_OUT (-192)
#define RD_KAFKA_RESP_ERR__QUEUE_FULL (-184)
#define RD_KAFKA_PARTITION_UA ((int32_t)-1)
#define RD_KAFKA_MSG_F_COPY 0x2
#define RD_KAFKA_PURGE_F_QUEUE 0x1
#define RD_KAFKA_PURGE_F_INFLIGHT 0x2

/* The layout is part of librdkafka's ABI. */
typedef struct rd_kafka_message_s {
	rd_kafka_resp_err_t err;
	rd_kafka_topic_t *rkt;
	int32_t partition;
	void *payload;
	size_t len;
	void *key;
	size_t key_len;
	int64_t offset;
	void *_private;
} rd_kafka_message_t;

int rd_kafka_version(void);
const char *rd_kafka_version_str(void);
const char *rd_kafka_err2name(rd_kafka_resp_err_t err);
const char *rd_kafka_err2str(rd_kafka_resp_err_t err);
rd_kafka_resp_err_t rd_kafka_last_error(void);

rd_kafka_conf_t *rd_kafka_conf_new(void);
void rd_kafka_conf_destroy(rd_kafka_conf_t *conf);
rd_kafka_conf_res_t rd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name,
				      const char *value, char *errstr,
				      size_t errstr_size);
void rd_kafka_conf_set_dr_msg_cb(rd_kafka_conf_t *conf,
				 void (*dr_msg_cb)(rd_kafka_t *rk,
						   const rd_kafka_message_t *rkmessage,
						   void *opaque));
void rd_kafka_conf_set_opaque(rd_kafka_conf_t *conf, void *opaque);

rd_kafka_t *rd_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
			 char *errstr, size_t errstr_size);
void rd_kafka_destroy(rd_kafka_t *rk);
rd_kafka_topic_t *rd_kafka_topic_new(rd_kafka_t *rk, const char *topic,
				     rd_kafka_topic_conf_t *conf);
void rd_kafka_topic_destroy(rd_kafka_topic_t *rkt);
int rd_kafka_poll(rd_kafka_t *rk, int timeout_ms);
int rd_kafka_produce(rd_kafka_topic_t *rkt, int32_t partition, int msgflags,
		     void *payload, size_t len, const void *key, size_t keylen,
		     void *msg_opaque);
rd_kafka_resp_err_t rd_kafka_flush(rd_kafka_t *rk, int timeout_ms);
rd_kafka_resp_err_t rd_kafka_purge(rd_kafka_t *rk, int purge_flags);

/* This package's own C, in rdk.c. */

/* Why fc_rdk_ceiling stopped (fc_rdk_result.err); errstr says more. */
enum {
	FC_RDK_OK,
	FC_RDK_ECONF,		/* a property librdkafka refused */
	FC_RDK_ENEW,		/* rd_kafka_new or rd_kafka_topic_new failed */
	FC_RDK_EWARMUP,		/* the warm-up message was not delivered */
	FC_RDK_EPRODUCE,	/* rd_kafka_produce failed, not queue full */
	FC_RDK_EQFULL,		/* the queue stayed full for timeout_ns */
	FC_RDK_EDRAIN,		/* reports missing timeout_ns after the last produce */
};

struct fc_rdk_spec {
	const char **keys;	/* librdkafka properties, nprops of each */
	const char **values;
	int nprops;
	const char *topic;
	uint32_t size;		/* value bytes */
	uint64_t count;		/* messages, when duration_ns is 0 */
	uint64_t duration_ns;	/* produce for this long instead */
	uint64_t timeout_ns;	/* for reports, or for room in the queue */
	int warmup;		/* one delivered message before the clock */
};

struct fc_rdk_result {
	uint64_t sent;		/* accepted by rd_kafka_produce, timed part */
	uint64_t delivered;	/* reports without error, timed part */
	uint64_t failed;	/* reports with an error, timed part */
	uint64_t elapsed_ns;	/* first produce to last report */
	uint64_t steady_n;	/* delivered from 1 s in to the last produce */
	uint64_t steady_ns;	/* over this time (0: run too short) */
	int last_err;		/* last delivery error, 0 if none */
	int err;		/* 0, or why the run stopped: see rdk.c */
	char errstr[512];
};

int fc_rdk_ceiling(const struct fc_rdk_spec *s, struct fc_rdk_result *r);

#endif
