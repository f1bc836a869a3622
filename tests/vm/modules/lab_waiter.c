// SPDX-License-Identifier: GPL-2.0
/*
 * lab_waiter: uses lab_dev's exported lab_dev_value (so lab_dev is its
 * dependency and it is a holder of lab_dev) and, like lab_hold, takes a
 * reference on itself at init and drops it hold_ms milliseconds later.
 *
 * `rmmod --wait -r lab_waiter` then waits for lab_waiter alone; lab_dev
 * may gain a user of its own meanwhile (an open /dev/lab_dev), and must
 * then be kept, not waited for.
 *
 * The exit function cancels the pending work: rmmod -f may remove the
 * module while the reference is still held.
 */
#include <linux/module.h>
#include <linux/workqueue.h>
#include <linux/jiffies.h>

#include "lab_dev.h"

static unsigned int hold_ms = 2000;
module_param(hold_ms, uint, 0444);
MODULE_PARM_DESC(hold_ms, "how long the self reference is held (ms)");

static void lab_waiter_release(struct work_struct *work)
{
	pr_info("lab_waiter: releasing self reference\n");
	module_put(THIS_MODULE);
}

static DECLARE_DELAYED_WORK(lab_waiter_work, lab_waiter_release);

static int __init lab_waiter_init(void)
{
	pr_info("lab_waiter: lab_dev says %d\n", lab_dev_value());
	__module_get(THIS_MODULE);
	schedule_delayed_work(&lab_waiter_work, msecs_to_jiffies(hold_ms));
	return 0;
}

static void __exit lab_waiter_exit(void)
{
	cancel_delayed_work_sync(&lab_waiter_work);
}

module_init(lab_waiter_init);
module_exit(lab_waiter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: depends on lab_dev, holds itself for hold_ms");
