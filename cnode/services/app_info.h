/* app_info: the one application the node reports (bifs_app.c's which_applications and
 * observer_appmon.c's app_ctrl give the same {Name, Description, Version}). */
#ifndef CN_APP_INFO_H
#define CN_APP_INFO_H

#include "services/introspect.h"

#define CN_APP_NAME "cnode"
#define CN_APP_DESCR "cnode  C node in the Erlang distribution"
#define CN_APP_VSN CN_VERSION

#endif
