// SPDX-License-Identifier: GPL-2.0
/*
 * lab_dev: a misc device /dev/lab_dev.  Because fops.owner is THIS_MODULE,
 * an open file descriptor holds a module reference: refcount 1 with no
 * holders, so rmmod says "Module lab_dev is in use" (no "by: ...").
 *
 * It also exports lab_dev_value, so that lab_user can hold it: a module with
 * a holder that can go and an open fd that cannot (a plan that removes the
 * holders first then fails at lab_dev itself).
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>

#include "lab_dev.h"

int lab_dev_value(void)
{
	return 7;
}
EXPORT_SYMBOL_GPL(lab_dev_value);

static ssize_t lab_dev_read(struct file *f, char __user *buf, size_t len,
			    loff_t *off)
{
	return 0;
}

static const struct file_operations lab_dev_fops = {
	.owner = THIS_MODULE,
	.read = lab_dev_read,
};

static struct miscdevice lab_dev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "lab_dev",
	.fops = &lab_dev_fops,
	.mode = 0666,
};

static int __init lab_dev_init(void)
{
	return misc_register(&lab_dev_misc);
}

static void __exit lab_dev_exit(void)
{
	misc_deregister(&lab_dev_misc);
}

module_init(lab_dev_init);
module_exit(lab_dev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modload lab: misc device whose open fds pin the module");
