// SPDX-License-Identifier: GPL-2.0
/*
 * lab-dash: file name with a dash.  Kbuild turns it into the module name
 * lab_dash; rmmod must accept both spellings.
 */
#include <linux/module.h>

static int __init lab_dash_init(void)
{
	return 0;
}

static void __exit lab_dash_exit(void)
{
}

module_init(lab_dash_init);
module_exit(lab_dash_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: file name with a dash");
