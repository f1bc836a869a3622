// SPDX-License-Identifier: GPL-2.0
/*
 * lab_provider: exports a symbol so that lab_consumer depends on it.
 * Loaded together they give lsmod a holder ("Used by lab_consumer") and
 * make rmmod refuse with "Module lab_provider is in use by: lab_consumer".
 */
#include <linux/module.h>

#include "lab_provider.h"

int lab_provider_value(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(lab_provider_value);

static int __init lab_provider_init(void)
{
	return 0;
}

static void __exit lab_provider_exit(void)
{
}

module_init(lab_provider_init);
module_exit(lab_provider_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: exports lab_provider_value");
