/* tls.c - the daemon's TLS (OpenSSL): the server context made from
 * -o tls_cert=FILE,tls_key=FILE,tls_ca=FILE (TLS 1.2 and later; a client
 * certificate is required and verified against the CA file), the client
 * context of replication links (the same files; the server's certificate
 * is verified against the CA and must name a user), and the
 * local user a client certificate names: the user -o tls_usermap=FILE
 * gives its subject or its CN, else the user whose name is its CN.
 *
 * The user map is read once at start.  Its lines are "NAME USER": USER is
 * the last field (a user name, resolved at start, or a decimal uid), NAME
 * all before it with the blanks around it dropped: a subject in RFC 2253
 * form ("CN=alice,O=Plant") or a CN ("alice").  Blank lines and lines
 * starting with # are skipped.
 *
 * A certificate that names no user fails its handshake (checked with
 * the chain, in verify_user), so the client gets an alert.
 *
 * Everything here is set by tls_init before any thread starts and only
 * read afterwards (OpenSSL's SSL_CTX may be shared by threads), but
 * no_user, which is each thread's own. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fs.h"
#include "tls.h"
#include "users.h"

#define USERMAP_LINE_MAX 1024
#define USERMAP_MAX 100000

struct umap_entry {
	char *name;             /* a subject (RFC 2253) or a CN */
	uid_t uid;
};

static struct {
	SSL_CTX *ctx;
	SSL_CTX *client;        /* replication links' side of a connection */
	struct umap_entry *map;
	size_t nmap;
} tls;

/* Why the last handshake of this thread failed verify_user. */
static _Thread_local char no_user[1400];

static int verify_user(int ok, X509_STORE_CTX *store);

SSL_CTX *tls_server_ctx(void)
{
	return tls.ctx;
}

SSL_CTX *tls_client_ctx(void)
{
	return tls.client;
}

/* OpenSSL's reason for the last failure of this thread. */
static const char *ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, cap, "%s", r ? r : "unknown error");
	ERR_clear_error();
	return buf;
}

const char *tls_error(SSL *ssl, char *buf, size_t cap)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (v == X509_V_ERR_APPLICATION_VERIFICATION) {
		snprintf(buf, cap, "%s", no_user);
		ERR_clear_error();
		return buf;
	}
	if (v != X509_V_OK) {
		snprintf(buf, cap, "certificate: %s",
			 X509_verify_cert_error_string(v));
		ERR_clear_error();
		return buf;
	}
	return ssl_reason(buf, cap);
}

bool tls_peer_closed(SSL *ssl, int err)
{
	if (ssl && SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	unsigned long e = ERR_peek_error();
	if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && e == 0))
		return true;
	/* OpenSSL 3 reports an end of stream without close_notify so. */
	return err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	       ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* The file must be readable by the daemon: a clear errno before
 * OpenSSL's parse errors. */
static int readable(const char *opt, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		log_msg(SF_LOG_ERROR, "%s=%s: %s", opt, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* Never ask for a pass phrase on the terminal: an encrypted key fails. */
static int no_passphrase(char *buf, int size, int rw, void *arg)
{
	(void)buf, (void)size, (void)rw, (void)arg;
	return -1;
}

static int make_ctx(const struct tls_settings *s)
{
	char why[256];
	if (readable("tls_cert", s->cert) < 0 ||
	    readable("tls_key", s->key) < 0 || readable("tls_ca", s->ca) < 0)
		return -1;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		log_msg(SF_LOG_ERROR, "tls: %s", ssl_reason(why, sizeof why));
		return -1;
	}
	tls.ctx = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1) {
		log_msg(SF_LOG_ERROR, "tls_cert=%s: %s", s->cert,
			ssl_reason(why, sizeof why));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) ==
	    X509_R_KEY_VALUES_MISMATCH) {
		log_msg(SF_LOG_ERROR, "tls_key=%s: not the key of tls_cert=%s",
			s->key, s->cert);
		ERR_clear_error();
		return -1;
	}
	if (ERR_peek_error()) {
		log_msg(SF_LOG_ERROR, "tls_key=%s: %s (an unencrypted PEM key "
			"is needed)", s->key, ssl_reason(why, sizeof why));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_msg(SF_LOG_ERROR, "tls_key=%s: not the key of tls_cert=%s",
			s->key, s->cert);
		ERR_clear_error();
		return -1;
	}
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ca);
	if (SSL_CTX_load_verify_locations(ctx, s->ca, NULL) != 1 || !names) {
		log_msg(SF_LOG_ERROR, "tls_ca=%s: %s", s->ca,
			names ? ssl_reason(why, sizeof why)
			      : "no PEM certificate in it");
		if (names)
			sk_X509_NAME_pop_free(names, X509_NAME_free);
		ERR_clear_error();
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_user);
	static const unsigned char sid[] = "streamfs";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
	return 0;
}

/* The client context: the same certificate, key and CA; the server's
 * certificate is required, verified against the CA, and must name a
 * user (verify_user), as a client's must.  The files were checked by
 * make_ctx. */
static int make_client_ctx(const struct tls_settings *s)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		log_msg(SF_LOG_ERROR, "tls: %s", ssl_reason(why, sizeof why));
		return -1;
	}
	tls.client = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, s->ca, NULL) != 1) {
		log_msg(SF_LOG_ERROR, "tls client context: %s",
			ssl_reason(why, sizeof why));
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_user);
	return 0;
}

/* ---- the user map ---- */

/* One line (no newline) into the map: 0, 1 (blank or comment), or -1
 * with why. */
static int usermap_line(char *line, const char **why)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == 0 || *p == '#')
		return 1;
	char *end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r'))
		*--end = 0;
	char *sp = end;
	while (sp > p && sp[-1] != ' ' && sp[-1] != '\t')
		sp--;
	if (sp == p) {
		*why = "a line is NAME USER";
		return -1;
	}
	char *user = sp, *name_end = sp;
	while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
		name_end--;
	*name_end = 0;
	uid_t uid;
	if (user_uid(user, &uid) < 0) {
		*why = "no such user";
		return -1;
	}
	if (tls.nmap == USERMAP_MAX) {
		*why = "too many lines";
		return -1;
	}
	struct umap_entry *m = realloc(tls.map, (tls.nmap + 1) * sizeof *m);
	if (!m || !(p = strdup(p))) {
		if (m)
			tls.map = m;
		*why = strerror(ENOMEM);
		return -1;
	}
	tls.map = m;
	m[tls.nmap].name = p;
	m[tls.nmap].uid = uid;
	tls.nmap++;
	return 0;
}

static int load_usermap(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		log_msg(SF_LOG_ERROR, "tls_usermap=%s: %s", path,
			strerror(errno));
		return -1;
	}
	char line[USERMAP_LINE_MAX + 2];
	int n = 0, r = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		size_t len = strlen(line);
		const char *why = NULL;
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		else if (!feof(f))
			why = "line too long";
		if (why || usermap_line(line, &why) < 0) {
			log_msg(SF_LOG_ERROR, "tls_usermap=%s line %d: %s",
				path, n, why);
			r = -1;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		log_msg(SF_LOG_ERROR, "tls_usermap=%s: %s", path,
			strerror(errno));
		r = -1;
	}
	fclose(f);
	return r;
}

int tls_init(const struct tls_settings *s)
{
	if (!s->cert && !s->key && !s->ca && !s->usermap)
		return 0;
	const char *missing = !s->cert ? "tls_cert" : !s->key ? "tls_key"
			      : !s->ca ? "tls_ca" : NULL;
	if (missing) {
		log_msg(SF_LOG_ERROR, "TLS needs tls_cert, tls_key and tls_ca: "
			"%s= is missing", missing);
		return -1;
	}
	if (make_ctx(s) < 0 || make_client_ctx(s) < 0 ||
	    (s->usermap && load_usermap(s->usermap) < 0)) {
		tls_fini();
		return -1;
	}
	return 0;
}

void tls_fini(void)
{
	SSL_CTX_free(tls.ctx);
	tls.ctx = NULL;
	SSL_CTX_free(tls.client);
	tls.client = NULL;
	for (size_t i = 0; i < tls.nmap; i++)
		free(tls.map[i].name);
	free(tls.map);
	tls.map = NULL;
	tls.nmap = 0;
}

/* ---- the peer ---- */

/* The certificate's one CN as UTF-8 in buf: 0, or -1 (none, several, a
 * NUL inside, too long). */
static int cert_cn(X509 *x, char *buf, size_t cap)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(n, NID_commonName, i) >= 0)
		return -1;
	ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	unsigned char *u = NULL;
	int len = ASN1_STRING_to_UTF8(&u, d);
	if (len < 0)
		return -1;
	int r = (size_t)len < cap && !memchr(u, 0, (size_t)len) ? 0 : -1;
	if (r == 0) {
		memcpy(buf, u, (size_t)len);
		buf[len] = 0;
	}
	OPENSSL_free(u);
	return r;
}

static void cert_subject(X509 *x, char *buf, size_t cap)
{
	buf[0] = 0;
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	int n = BIO_read(b, buf, (int)cap - 1);
	buf[n > 0 ? n : 0] = 0;
	BIO_free(b);
}

static const struct umap_entry *map_find(const char *name)
{
	for (size_t i = 0; i < tls.nmap; i++)
		if (strcmp(tls.map[i].name, name) == 0)
			return &tls.map[i];
	return NULL;
}

/* The user x names: 0, or -EACCES with why. */
static int cert_user(X509 *x, uid_t *uid, gid_t *gid, char *why, size_t cap)
{
	char subject[1024], cn[256];
	cert_subject(x, subject, sizeof subject);
	bool has_cn = cert_cn(x, cn, sizeof cn) == 0;
	const struct umap_entry *m = map_find(subject);
	if (!m && has_cn)
		m = map_find(cn);
	if (m) {
		*uid = m->uid;
	} else if (!has_cn) {
		snprintf(why, cap, "certificate subject %s has no single CN "
			 "and is not in the user map", subject);
		return -EACCES;
	} else {
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwnam_r(cn, &pw, buf, sizeof buf, &res) != 0 || !res) {
			snprintf(why, cap, "certificate subject %s: no user "
				 "named %s", subject, cn);
			return -EACCES;
		}
		*uid = pw.pw_uid;
	}
	*gid = user_gid(*uid);
	return 0;
}

int tls_peer_user(SSL *ssl, uid_t *uid, gid_t *gid, char *why, size_t cap)
{
	X509 *x = SSL_get1_peer_certificate(ssl);
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(why, cap, "no verified client certificate");
		X509_free(x);
		return -EACCES;
	}
	int r = cert_user(x, uid, gid, why, cap);
	X509_free(x);
	return r;
}

/* OpenSSL's check of each certificate of the client's chain: the client's
 * own (depth 0), once the chain is good, must name a user, or the
 * handshake fails (the client gets an alert, and tls_error says why). */
static int verify_user(int ok, X509_STORE_CTX *store)
{
	if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
		return ok;
	uid_t uid;
	gid_t gid;
	if (cert_user(X509_STORE_CTX_get_current_cert(store), &uid, &gid,
		      no_user, sizeof no_user) == 0)
		return 1;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}
