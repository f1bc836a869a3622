// SPDX-License-Identifier: GPL-2.0
/*
 * lab_hold: takes a reference on itself at init and drops it hold_ms
 * milliseconds later from a delayed work.  Until then rmmod must refuse
 * ("in use", refcount 1, no holders); afterwards removal succeeds.
 *
 * rmmod -f may remove the module while the reference is still held; the
 * exit function therefore cancels the pending work, otherwise the work
 * would run from freed module text.
 */
#include <linux/module.h>
#include <linux/workqueue.h>
#include <linux/jiffies.h>

static unsigned int hold_ms = 2000;
module_param(hold_ms, uint, 0444);
MODULE_PARM_DESC(hold_ms, "how long the self reference is held (ms)");

static void lab_hold_release(struct work_struct *work)
{
	pr_info("lab_hold: releasing self reference\n");
	module_put(THIS_MODULE);
}

static DECLARE_DELAYED_WORK(lab_hold_work, lab_hold_release);

static int __init lab_hold_init(void)
{
	__module_get(THIS_MODULE);
	schedule_delayed_work(&lab_hold_work, msecs_to_jiffies(hold_ms));
	return 0;
}

static void __exit lab_hold_exit(void)
{
	/*
	 * Only reached with the reference still held when removal was forced;
	 * the reference dies with the module.
	 */
	cancel_delayed_work_sync(&lab_hold_work);
}

module_init(lab_hold_init);
module_exit(lab_hold_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: holds a reference on itself for hold_ms");
