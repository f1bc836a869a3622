// The simulation (see simulation.hpp).
#include "simulation.hpp"
