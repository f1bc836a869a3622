// SPDX-License-Identifier: GPL-2.0
/*
 * lab_consumer: uses lab_provider_value.  Loaded without lab_provider the
 * kernel rejects it with -ENOENT ("Unknown symbol in module").
 */
#include <linux/module.h>

#include "lab_provider.h"

static int __init lab_consumer_init(void)
{
	pr_info("lab_consumer: provider says %d\n", lab_provider_value());
	return 0;
}

static void __exit lab_consumer_exit(void)
{
}

module_init(lab_consumer_init);
module_exit(lab_consumer_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: depends on lab_provider");
