// SPDX-License-Identifier: GPL-2.0
/*
 * lab_user: uses both lab_provider and lab_dev, so it depends on two
 * modules (insmod --deps loads both first) and is a holder of each.  Its
 * charp parameter `tag` shows that parameters reach the module itself and
 * not its dependencies.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "lab_dev.h"
#include "lab_provider.h"

static char *tag = "none";
module_param(tag, charp, 0444);
MODULE_PARM_DESC(tag, "a string, read back from sysfs");

static int __init lab_user_init(void)
{
	pr_info("lab_user: %d + %d, tag %s\n", lab_provider_value(),
		lab_dev_value(), tag);
	return 0;
}

static void __exit lab_user_exit(void)
{
}

module_init(lab_user_init);
module_exit(lab_user_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: depends on lab_provider and lab_dev");
