/* faultshim.h - the runtime control of the fault shim (faultshim.c), for
 * a test that runs the store in its own process with the shim preloaded.
 *
 * A test does not link against the shim: it finds these with
 * dlsym(RTLD_DEFAULT, "streamfs_fault_arm") and so on, and declares its
 * pointers with __typeof__ of the prototypes here, so both sides agree.
 * Call them while no other thread writes below the data folder.
 */
#ifndef STREAMFS_TESTS_FAULTSHIM_H
#define STREAMFS_TESTS_FAULTSHIM_H

/* Make dir (absolute) the data folder and rules the fault rules, in the
 * grammar of STREAMFS_FAULT ("" for none: count only), and zero the call
 * counters, so a rule's N counts the calls from here on.  Descriptors
 * already open below dir are taken over.  With rules NULL, the rules are
 * dropped and the counters left as they are (dir may then be NULL: the
 * folder stays).  0, or -EINVAL (a bad dir or rule: nothing changed). */
int streamfs_fault_arm(const char *dir, const char *rules);

/* The calls of a fault kind ("seg_write", "db_sync", ...) counted since
 * the last arming with rules; 0 for a name that is no kind. */
unsigned long streamfs_fault_count(const char *kind);

/* The faults injected since the last arming with rules. */
unsigned long streamfs_fault_fired(void);

#endif
