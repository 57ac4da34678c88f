#include "baton/core/result.h"
