/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAB_PROVIDER_H
#define LAB_PROVIDER_H

int lab_provider_value(void);

#endif
