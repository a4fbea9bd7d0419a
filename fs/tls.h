/* tls.h - the daemon's TLS: the -o tls_cert, tls_key, tls_ca and
 * tls_usermap settings, the server context made from them, and the local
 * user a verified client certificate names.  Shared by every front end
 * that speaks TLS (the Kafka listener, replication). */
#ifndef STREAMFS_TLS_H
#define STREAMFS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* The option values as given (NULL: not given).  Called once by main.c
 * before tls_init. */
struct tls_settings {
	const char *cert, *key, *ca, *usermap;
};
/* Load the certificate, key, CA and user map and make the server context
 * (TLS 1.2 and later, client certificates required and verified against
 * the CA).  Nothing given: 0 and no context.  0, or -1 after one error
 * line naming the option and the reason (the mount then fails). */
int tls_init(const struct tls_settings *s);
/* The server context, or NULL when the tls_ options were not given. */
SSL_CTX *tls_server_ctx(void);
/* The client context (the same certificate, key and CA; the server's
 * certificate is verified against the CA and must name a user), or NULL
 * when the tls_ options were not given. */
SSL_CTX *tls_client_ctx(void);
void tls_fini(void);

/* The local user the verified peer certificate of ssl (after its
 * handshake; a client's, or on a replication link the server's) names:
 * the user the usermap gives its subject or CN, else the user named by
 * its CN.  0, or -EACCES with why (cap bytes) saying
 * which name has no user.  gid: the user's primary group.  (A
 * certificate that names no user already fails its handshake.) */
int tls_peer_user(SSL *ssl, uid_t *uid, gid_t *gid, char *why, size_t cap);

/* Why the last TLS call of this thread failed, for a log line: the
 * certificate's verify error when there is one (for a certificate that
 * names no user, which name has none), else OpenSSL's reason. */
const char *tls_error(SSL *ssl, char *buf, size_t cap);

/* After a failed handshake step whose SSL_get_error was err: did the
 * peer just close the connection (no alert, nothing wrong with any
 * certificate)?  A client that gives up, or a daemon killed mid-way,
 * is not a refusal: the front ends log it as news, not as a warning.
 * Leaves OpenSSL's error queue as it was. */
bool tls_peer_closed(SSL *ssl, int err);

#endif
