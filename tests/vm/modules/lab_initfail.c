// SPDX-License-Identifier: GPL-2.0
/* lab_initfail: init fails with -ENODEV, so insmod reports "No such device". */
#include <linux/module.h>

static int __init lab_initfail_init(void)
{
	return -ENODEV;
}

module_init(lab_initfail_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: init returns -ENODEV");
