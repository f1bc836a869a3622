// SPDX-License-Identifier: GPL-2.0
/*
 * lab_slow: sleeps init_ms milliseconds in its init and exit_ms in its
 * exit, so that a test can catch it in the kernel's COMING state
 * (/proc/modules: "Loading") or GOING state ("Unloading", refcount -1):
 * two insmods of the same file at once, rmmod of a module still
 * initializing, two rmmods at once, lsmod while modules come and go.
 */
#include <linux/module.h>
#include <linux/delay.h>

static unsigned int init_ms;
module_param(init_ms, uint, 0444);
MODULE_PARM_DESC(init_ms, "how long init sleeps (ms)");

static unsigned int exit_ms;
module_param(exit_ms, uint, 0444);
MODULE_PARM_DESC(exit_ms, "how long exit sleeps (ms)");

static int __init lab_slow_init(void)
{
	if (init_ms)
		msleep(init_ms);
	return 0;
}

static void __exit lab_slow_exit(void)
{
	if (exit_ms)
		msleep(exit_ms);
}

module_init(lab_slow_init);
module_exit(lab_slow_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: sleeps init_ms in init and exit_ms in exit");
