/* status_keys.h: the internal status keys.
 *
 * Status names starting with '_' are never shown in the tree and never
 * logged as changes (store.h).  The reconciler keeps in them what it must
 * remember across passes and restarts, and the mount reads some of them
 * (wait, preconditions).  Every such key is defined here, once; nothing in
 * src/ spells one as a bare string.
 */
#ifndef CFS_STATUS_KEYS_H
#define CFS_STATUS_KEYS_H

#define CFS_ST_GEN "_gen"                   /* spec generation a pass last converged on: wait and check read it as "status is final" */
#define CFS_ST_RC_ERROR "_rc_error"         /* the part of status/error the reconciler wrote: it clears only that, never a refusal's reason */
#define CFS_ST_MAX_VCPUS "_max_vcpus"       /* vm: vCPU maximum of the running domain; precond checks offering changes against it */
#define CFS_ST_MAX_MEMORY "_max_memory"     /* vm: memory maximum of the running domain (a size); precond, as _max_vcpus */
#define CFS_ST_VERB_SEQ "_verb_seq"         /* vm, snapshot: changes seq of the last ctl verb a pass ran (verbs run once) */
#define CFS_ST_STARTED "_started"           /* vm: when the domain was first seen running (epoch seconds), for status/uptime */
#define CFS_ST_ROOT_OF "_root-of"           /* volume: UUID of the VM whose root disk it is; precond refuses deleting it */
#define CFS_ST_ATTACHED "_attached"         /* volume: UUID of the VM it is plugged into */
#define CFS_ST_TARGET "_target"             /* volume: its device in that VM (sdb..), kept across replugs */
#define CFS_ST_USED "_used"                 /* volume: "1" once attached (it may hold data: never remade); precond reads it */
#define CFS_ST_IMAGE "_image"               /* volume: the image it was made from (a change remakes an unused volume) */
#define CFS_ST_SNAPSHOT "_snapshot"         /* volume: the snapshot (VOLUME/SNAPSHOT) it was made from, as _image */
#define CFS_ST_CLONE "_clone"             /* vm: the snapshot (VOLUME/SNAPSHOT) its root disk is cloned from, set by the mount with `from` */
#define CFS_ST_SOURCE "_source"             /* image: the source path last imported (a new one imports again) */
#define CFS_ST_NOTIFIED "_notified"         /* alarm: per notification target, "ID SINCE SENT" lines: the firing last delivered and when (epoch s) */
#define CFS_ST_SUBNET "_subnet"             /* nic: UUID of the subnet its status/ip is in, set with it by the mount */
#define CFS_ST_SUBNET_WAS "_subnet_was"     /* nic: the subnet it left (the NIC pass wakes it to drop its DHCP entry) */
#define CFS_ST_NICS "_nics"                 /* vm: the NICs of the domain as last defined (a change redefines and hot-plugs) */
#define CFS_ST_RECYCLE_NAME "_recycle_name"       /* vm, volume, image in /recycle: its name before (store_res_recycle) */
#define CFS_ST_RECYCLE_ORIGIN "_recycle_origin"   /* the same: its path before, shown in /recycle/X/origin */
#define CFS_ST_RECYCLE_EXPIRES "_recycle_expires" /* the same: epoch seconds when the reconciler expunges it */
#define CFS_ST_HOSTS "_hosts"               /* vpc, subnet: hosts it was set up on, "URI" or "URI NETNS" a line (teardown) */
#define CFS_ST_MIGRATING_TO "_migrating_to"   /* vm: the host a live migration is moving it to (the scheduler counts it there) */
#define CFS_ST_MIG_FAILED "_mig_failed"     /* vm: "GEN REASON": the move asked by spec generation GEN failed (not retried until the next write) */
#define CFS_ST_UNPINNED "_unpinned"         /* vm: changes seq of the reconciler's own `host` write that unpinned an evacuee (not a request to move) */
#define CFS_ST_EVACUATED "_evacuated"       /* vm: why evacuating its host stopped it instead of moving it */
#define CFS_ST_CPU_FROM "_cpu_from"         /* vm: cpu-signature of the host it ran on when that host was lost (a host-passthrough VM restarts only on an identical CPU) */

#endif
