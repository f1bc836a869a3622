/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAB_DEV_H
#define LAB_DEV_H

int lab_dev_value(void);

#endif
