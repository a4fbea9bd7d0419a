/* sf_ioctl.h - the one ioctl of streamfs, shared by the daemon and the
 * tools (streamctl import).
 *
 * SF_IOC_RESTORE on a topic's descriptor, open for writing, names the next
 * record: the bytes the following write() calls on that descriptor give,
 * up to `len`, are appended as one record of `nmsgs` messages that arrived
 * at `ns`, starting at byte offset `off` and message offset `msg`.  Only
 * the admin of the topic's stream may (EACCES).  The record must continue
 * the topic (off and msg its size and next message offset) unless the
 * topic has never held one, arrive no earlier than the topic's last
 * record and not in the future, and keep the stream's rules: each message
 * at most max_message bytes; several messages are lines, each ending in a
 * newline.  Otherwise EINVAL, at the ioctl or at the write that completes
 * the record, and nothing is appended.  Closing the descriptor before the
 * record is complete drops it (close gives EIO).
 */
#ifndef STREAMFS_SF_IOCTL_H
#define STREAMFS_SF_IOCTL_H

#include <linux/ioctl.h>
#include <stdint.h>

struct sf_restore {
	uint64_t off;           /* topic byte offset of the record */
	uint64_t msg;           /* message offset of its first message */
	int64_t ns;             /* arrival time, ns since the epoch */
	uint32_t len;           /* bytes, 1 to SF_RESTORE_MAX */
	uint32_t nmsgs;         /* messages in it, at least 1 */
};

/* The longest record: a line held to max_message and a 1 MiB write. */
#define SF_RESTORE_MAX ((64u << 20) + (1u << 20))

#define SF_IOC_RESTORE _IOW('S', 1, struct sf_restore)

#endif
