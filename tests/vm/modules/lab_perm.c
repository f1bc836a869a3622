// SPDX-License-Identifier: GPL-2.0
/*
 * lab_perm: has an init but no exit function, so the kernel treats it as
 * permanent: delete_module fails with EBUSY unless forced (O_TRUNC with
 * CONFIG_MODULE_FORCE_UNLOAD).
 */
#include <linux/module.h>

static int __init lab_perm_init(void)
{
	return 0;
}

module_init(lab_perm_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: no exit function (permanent)");
