// SPDX-License-Identifier: GPL-2.0
/*
 * lab_params: one parameter of each interesting type.  All are 0444 so the
 * scenarios can read back what the kernel parsed from
 * /sys/module/lab_params/parameters/<name>.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

static int number = 7;
module_param(number, int, 0444);
MODULE_PARM_DESC(number, "an int");

static char *name = "default";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "a string; may contain spaces when quoted");

static bool flag;
module_param(flag, bool, 0444);
MODULE_PARM_DESC(flag, "a bool");

static int values[4];
static int nvalues;
module_param_array(values, int, &nvalues, 0444);
MODULE_PARM_DESC(values, "up to 4 ints, comma separated");

static int __init lab_params_init(void)
{
	return 0;
}

static void __exit lab_params_exit(void)
{
}

module_init(lab_params_init);
module_exit(lab_params_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: parameters of several types");
