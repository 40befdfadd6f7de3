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
typedef struct rd_kafka_queue_s rd_kafka_queue_t;
typedef struct rd_kafka_op_s rd_kafka_event_t;

typedef int rd_kafka_resp_err_t;	/* an enum in rdkafka.h */
typedef int rd_kafka_conf_res_t;	/* an enum in rdkafka.h */
typedef int rd_kafka_type_t;		/* an enum in rdkafka.h */

#define RD_KAFKA_PRODUCER 0
#define RD_KAFKA_CONF_OK 0
#define RD_KAFKA_RESP_ERR_NO_ERROR 0
#define RD_KAFKA_RESP_ERR__MSG_TIMED_OUT (-192)
#define RD_KAFKA_RESP_ERR__QUEUE_FULL (-184)
#define RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN (-187)
#define RD_KAFKA_RESP_ERR__TIMED_OUT (-185)
#define RD_KAFKA_PARTITION_UA ((int32_t)-1)
#define RD_KAFKA_MSG_F_COPY 0x2
#define RD_KAFKA_PURGE_F_QUEUE 0x1
#define RD_KAFKA_PURGE_F_INFLIGHT 0x2

/* rd_kafka_vtype_t, the tags of rd_kafka_producev's arguments */
#define RD_KAFKA_VTYPE_END 0
#define RD_KAFKA_VTYPE_RKT 2
#define RD_KAFKA_VTYPE_PARTITION 3
#define RD_KAFKA_VTYPE_VALUE 4
#define RD_KAFKA_VTYPE_KEY 5
#define RD_KAFKA_VTYPE_MSGFLAGS 7
#define RD_KAFKA_VTYPE_TIMESTAMP 8
#define RD_KAFKA_VTYPE_HEADER 9

/* event types */
#define RD_KAFKA_EVENT_NONE 0x0
#define RD_KAFKA_EVENT_DR 0x1
#define RD_KAFKA_EVENT_LOG 0x4
#define RD_KAFKA_EVENT_ERROR 0x8
#define RD_KAFKA_EVENT_STATS 0x40

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

rd_kafka_resp_err_t rd_kafka_producev(rd_kafka_t *rk, ...);
int rd_kafka_outq_len(rd_kafka_t *rk);
rd_kafka_topic_conf_t *rd_kafka_default_topic_conf_dup(rd_kafka_t *rk);
void rd_kafka_topic_conf_set_opaque(rd_kafka_topic_conf_t *conf, void *rkt_opaque);
void *rd_kafka_topic_opaque(const rd_kafka_topic_t *rkt);

void rd_kafka_conf_set_events(rd_kafka_conf_t *conf, int events);
rd_kafka_resp_err_t rd_kafka_set_log_queue(rd_kafka_t *rk, rd_kafka_queue_t *rkqu);
rd_kafka_queue_t *rd_kafka_queue_get_main(rd_kafka_t *rk);
void rd_kafka_queue_destroy(rd_kafka_queue_t *rkqu);
rd_kafka_event_t *rd_kafka_queue_poll(rd_kafka_queue_t *rkqu, int timeout_ms);
void rd_kafka_queue_yield(rd_kafka_queue_t *rkqu);
int rd_kafka_event_type(const rd_kafka_event_t *rkev);
const rd_kafka_message_t *rd_kafka_event_message_next(rd_kafka_event_t *rkev);
rd_kafka_resp_err_t rd_kafka_event_error(rd_kafka_event_t *rkev);
const char *rd_kafka_event_error_string(rd_kafka_event_t *rkev);
int rd_kafka_event_error_is_fatal(rd_kafka_event_t *rkev);
int rd_kafka_event_log(rd_kafka_event_t *rkev, const char **fac,
		       const char **str, int *level);
const char *rd_kafka_event_stats(rd_kafka_event_t *rkev);
void rd_kafka_event_destroy(rd_kafka_event_t *rkev);

/* The layouts are part of librdkafka's ABI. */
struct rd_kafka_metadata_broker {
	int32_t id;
	char *host;
	int port;
};

struct rd_kafka_metadata_partition {
	int32_t id;
	rd_kafka_resp_err_t err;
	int32_t leader;
	int replica_cnt;
	int32_t *replicas;
	int isr_cnt;
	int32_t *isrs;
};

struct rd_kafka_metadata_topic {
	char *topic;
	int partition_cnt;
	struct rd_kafka_metadata_partition *partitions;
	rd_kafka_resp_err_t err;
};

struct rd_kafka_metadata {
	int broker_cnt;
	struct rd_kafka_metadata_broker *brokers;
	int topic_cnt;
	struct rd_kafka_metadata_topic *topics;
	int32_t orig_broker_id;
	char *orig_broker_name;
};

rd_kafka_resp_err_t rd_kafka_metadata(rd_kafka_t *rk, int all_topics,
				      rd_kafka_topic_t *only_rkt,
				      const struct rd_kafka_metadata **metadatap,
				      int timeout_ms);
void rd_kafka_metadata_destroy(const struct rd_kafka_metadata *metadata);

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
	int nocopy;		/* librdkafka points at the value, no RD_KAFKA_MSG_F_COPY */
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
