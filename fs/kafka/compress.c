/* compress.c - the compression codecs of Kafka record batches: gzip
 * (zlib), snappy (libsnappy; raw, or in the xerial framing the Java client
 * writes), lz4 (liblz4's frame format) and zstd (libzstd).
 *
 * Inflating never produces more than the caller's limit: output grows by
 * doubling up to it, and a stream that wants more is refused (-EFBIG), so
 * a small batch that would inflate to gigabytes costs at most the limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "records.h"

/* ---- a growing output buffer, bounded ---- */

struct sink {
	uint8_t *p;
	size_t len, cap, limit;
};

/* Make room for at least one more byte; -EFBIG at the limit. */
static int sink_grow(struct sink *s, size_t hint)
{
	if (s->len < s->cap)
		return 0;
	if (s->cap >= s->limit)
		return -EFBIG;
	size_t cap = s->cap ? s->cap * 2 : (hint < 4096 ? 4096 : hint);
	if (cap > s->limit || cap < s->cap)
		cap = s->limit;
	uint8_t *q = realloc(s->p, cap);
	if (!q)
		return -ENOMEM;
	s->p = q;
	s->cap = cap;
	return 0;
}

/* A first guess at the inflated size: four times the input. */
static size_t first_guess(size_t n, size_t limit)
{
	size_t g = n > limit / 4 ? limit : n * 4;
	return g < 4096 ? 4096 : g;
}

static int sink_done(struct sink *s, int rc, uint8_t **out, size_t *outlen)
{
	if (rc) {
		free(s->p);
		return rc;
	}
	if (!s->p && !(s->p = malloc(1)))
		return -ENOMEM;
	*out = s->p;
	*outlen = s->len;
	return 0;
}

/* ---- gzip ---- */

static int gzip_inflate(const uint8_t *in, size_t n, struct sink *s)
{
	z_stream z;
	int rc = 0, zr = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)      /* gzip or zlib header */
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	while (n > 0 || zr != Z_STREAM_END) {
		size_t chunk = n > UINT32_MAX ? UINT32_MAX : n;
		z.avail_in = (uInt)chunk;
		if ((rc = sink_grow(s, first_guess(n, s->limit))))
			break;
		size_t room = s->cap - s->len;
		z.next_out = s->p + s->len;
		z.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
		uInt out_before = z.avail_out;
		zr = inflate(&z, Z_NO_FLUSH);
		s->len += out_before - z.avail_out;
		n -= chunk - z.avail_in;
		if (zr == Z_STREAM_END && n > 0) {
			inflateReset(&z);       /* members back to back */
			zr = Z_OK;
		} else if (zr == Z_STREAM_END) {
			break;
		} else if (zr == Z_BUF_ERROR && z.avail_out != 0) {
			rc = -EBADMSG;          /* input ended mid-stream */
			break;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
			break;
		}
	}
	inflateEnd(&z);
	return rc;
}

static int gzip_deflate(const uint8_t *in, size_t n, struct sink *s)
{
	z_stream z;
	int rc = 0;

	memset(&z, 0, sizeof(z));
	if (n > UINT32_MAX / 2)
		return -ENOMEM;
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	s->cap = deflateBound(&z, (uLong)n) + 32;
	if (!(s->p = malloc(s->cap))) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = s->p;
	z.avail_out = (uInt)s->cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		rc = -ENOMEM;
	s->len = s->cap - z.avail_out;
	deflateEnd(&z);
	return rc;
}

/* ---- snappy: raw, or xerial framing ---- */

static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };
#define XERIAL_HEADER 16                /* magic, version, compatible */
#define XERIAL_BLOCK 32768              /* what the Java client writes */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One raw snappy block appended to s. */
static int snappy_block(const uint8_t *in, size_t n, struct sink *s)
{
	size_t len;

	if (snappy_uncompressed_length((const char *)in, n, &len) != SNAPPY_OK)
		return -EBADMSG;
	if (len > s->limit - s->len)
		return -EFBIG;
	if (len == 0)   /* nothing to write, and s->p may be NULL */
		return snappy_validate_compressed_buffer((const char *)in, n) ==
		       SNAPPY_OK ? 0 : -EBADMSG;
	if (s->cap - s->len < len) {
		size_t cap = s->len + len;
		uint8_t *q = realloc(s->p, cap ? cap : 1);
		if (!q)
			return -ENOMEM;
		s->p = q;
		s->cap = cap;
	}
	size_t got = len;
	if (snappy_uncompress((const char *)in, n, (char *)s->p + s->len,
			      &got) != SNAPPY_OK || got != len)
		return -EBADMSG;
	s->len += len;
	return 0;
}

static int snappy_inflate(const uint8_t *in, size_t n, struct sink *s)
{
	if (n < XERIAL_HEADER || memcmp(in, xerial_magic, 8) != 0)
		return snappy_block(in, n, s);
	size_t at = XERIAL_HEADER;
	while (at < n) {
		if (n - at < 4)
			return -EBADMSG;
		uint32_t len = be32(in + at);
		at += 4;
		if (len > n - at)
			return -EBADMSG;
		int rc = snappy_block(in + at, len, s);
		if (rc)
			return rc;
		at += len;
	}
	return 0;
}

static int snappy_deflate(const uint8_t *in, size_t n, struct sink *s)
{
	size_t blocks = n / XERIAL_BLOCK + 1;
	size_t most = snappy_max_compressed_length(XERIAL_BLOCK);

	s->cap = XERIAL_HEADER + blocks * (4 + most);
	if (!(s->p = malloc(s->cap)))
		return -ENOMEM;
	memcpy(s->p, xerial_magic, 8);
	put_be32(s->p + 8, 1);
	put_be32(s->p + 12, 1);
	s->len = XERIAL_HEADER;
	for (size_t at = 0; at < n; at += XERIAL_BLOCK) {
		size_t chunk = n - at < XERIAL_BLOCK ? n - at : XERIAL_BLOCK;
		size_t got = most;
		if (snappy_compress((const char *)in + at, chunk,
				    (char *)s->p + s->len + 4, &got) != SNAPPY_OK)
			return -ENOMEM;
		put_be32(s->p + s->len, (uint32_t)got);
		s->len += 4 + got;
	}
	return 0;
}

/* ---- lz4 frames ---- */

static int lz4_inflate(const uint8_t *in, size_t n, struct sink *s)
{
	LZ4F_dctx *d;
	size_t hint = 1;
	int rc = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
		return -ENOMEM;
	while (n > 0) {
		if ((rc = sink_grow(s, first_guess(n, s->limit))))
			break;
		size_t dst = s->cap - s->len, src = n;
		hint = LZ4F_decompress(d, s->p + s->len, &dst, in, &src, NULL);
		if (LZ4F_isError(hint)) {
			rc = -EBADMSG;
			break;
		}
		s->len += dst;
		in += src;
		n -= src;
		if (src == 0 && dst == 0 && s->len < s->cap) {
			rc = -EBADMSG;          /* no progress */
			break;
		}
	}
	/* hint 0: the last frame ended; anything else: it was cut short.
	 * Output may still be pending inside the context. */
	while (!rc && hint != 0) {
		if ((rc = sink_grow(s, 4096)))
			break;
		size_t dst = s->cap - s->len, src = 0;
		hint = LZ4F_decompress(d, s->p + s->len, &dst, in, &src, NULL);
		if (LZ4F_isError(hint) || dst == 0)
			rc = -EBADMSG;
		s->len += LZ4F_isError(hint) ? 0 : dst;
	}
	LZ4F_freeDecompressionContext(d);
	return rc;
}

static int lz4_deflate(const uint8_t *in, size_t n, struct sink *s)
{
	LZ4F_preferences_t prefs;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	s->cap = LZ4F_compressFrameBound(n, &prefs);
	if (!(s->p = malloc(s->cap)))
		return -ENOMEM;
	size_t got = LZ4F_compressFrame(s->p, s->cap, in, n, &prefs);
	if (LZ4F_isError(got))
		return -ENOMEM;
	s->len = got;
	return 0;
}

/* ---- zstd ---- */

/* Windows up to 16 MiB when streaming (a frame without its size). */
#define ZSTD_WINDOW_LOG_MAX 24

static int zstd_inflate(const uint8_t *in, size_t n, struct sink *s)
{
	unsigned long long want = ZSTD_getFrameContentSize(in, n);

	/* one frame of a known size: decoded straight into place */
	if (want != ZSTD_CONTENTSIZE_UNKNOWN && want != ZSTD_CONTENTSIZE_ERROR &&
	    ZSTD_findFrameCompressedSize(in, n) == n) {
		if (want > s->limit)
			return -EFBIG;
		s->cap = want ? (size_t)want : 1;
		if (!(s->p = malloc(s->cap)))
			return -ENOMEM;
		size_t got = ZSTD_decompress(s->p, (size_t)want, in, n);
		if (ZSTD_isError(got) || got != want)
			return -EBADMSG;
		s->len = got;
		return 0;
	}
	ZSTD_DStream *d = ZSTD_createDStream();
	size_t last = 1;
	int rc = 0;
	if (!d)
		return -ENOMEM;
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	ZSTD_inBuffer ib = { in, n, 0 };
	while (!rc && (ib.pos < ib.size || last != 0)) {
		if ((rc = sink_grow(s, first_guess(n, s->limit))))
			break;
		ZSTD_outBuffer ob = { s->p, s->cap, s->len };
		size_t in_before = ib.pos;
		last = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(last))
			rc = -EBADMSG;
		else if (ob.pos == s->len && ib.pos == in_before)
			rc = -EBADMSG;  /* no progress: cut short */
		s->len = ob.pos;
	}
	ZSTD_freeDStream(d);
	return rc;
}

static int zstd_deflate(const uint8_t *in, size_t n, struct sink *s)
{
	s->cap = ZSTD_compressBound(n);
	if (!(s->p = malloc(s->cap)))
		return -ENOMEM;
	size_t got = ZSTD_compress(s->p, s->cap, in, n, 3);
	if (ZSTD_isError(got))
		return -ENOMEM;
	s->len = got;
	return 0;
}

/* ---- entry points ---- */

int kcodec_inflate(int codec, const uint8_t *in, size_t n, size_t limit,
		   uint8_t **out, size_t *outlen)
{
	struct sink s = { NULL, 0, 0, limit };
	int rc;

	switch (codec) {
	case KCODEC_GZIP:
		rc = gzip_inflate(in, n, &s);
		break;
	case KCODEC_SNAPPY:
		rc = snappy_inflate(in, n, &s);
		break;
	case KCODEC_LZ4:
		rc = lz4_inflate(in, n, &s);
		break;
	case KCODEC_ZSTD:
		rc = zstd_inflate(in, n, &s);
		break;
	default:
		rc = -ENOTSUP;
	}
	return sink_done(&s, rc, out, outlen);
}

int kcodec_deflate(int codec, const uint8_t *in, size_t n, uint8_t **out,
		   size_t *outlen)
{
	struct sink s = { NULL, 0, 0, SIZE_MAX };
	int rc;

	switch (codec) {
	case KCODEC_GZIP:
		rc = gzip_deflate(in, n, &s);
		break;
	case KCODEC_SNAPPY:
		rc = snappy_deflate(in, n, &s);
		break;
	case KCODEC_LZ4:
		rc = lz4_deflate(in, n, &s);
		break;
	case KCODEC_ZSTD:
		rc = zstd_deflate(in, n, &s);
		break;
	default:
		rc = -EINVAL;
	}
	return sink_done(&s, rc, out, outlen);
}
