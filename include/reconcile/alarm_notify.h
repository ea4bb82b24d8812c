/* alarm_notify.h: delivering alarm notifications (webhooks) off the
 * reconciler's workers.
 *
 * An alarm's pass hands a firing alarm's JSON document to alarm_notify_fire
 * for each of its notification targets and returns at once; one thread of
 * its own posts it with libcurl under short time-outs (connect 3 s, whole
 * request 10 s, no redirects, http and https only), so an unreachable or
 * slow receiver never holds a worker.  A failed delivery is retried with
 * exponential backoff (5 s doubling up to 5 min) while the alarm keeps
 * firing, and reported in the target's status/last-error; the target's URL
 * appears there only without its user information and query.  One firing
 * (an alarm's status/since) is sent to a target once, and again only after
 * the target's repeat-interval; what was sent is kept in the alarm's
 * CFS_ST_NOTIFIED so that a restart does not repeat it.
 */
#ifndef CFS_ALARM_NOTIFY_H
#define CFS_ALARM_NOTIFY_H

#include <stdint.h>

#include "reconcile.h"

/* Start and stop the delivery thread (stop drops what is queued and cuts
 * a request in flight short). */
void alarm_notify_start(struct reconciler *rc);
void alarm_notify_stop(void);

/* Queue the document body for target notif of alarm, for the firing that
 * began at since, unless it was delivered for that firing less than
 * repeat seconds ago.  url and body are copied. */
void alarm_notify_fire(const struct cfs_res *alarm, const struct cfs_res *notif, const char *url,
                       int repeat, const char *since, const char *body);
/* The alarm stopped firing (or is gone): drop its queued deliveries. */
void alarm_notify_cancel(int64_t alarm);

#endif
