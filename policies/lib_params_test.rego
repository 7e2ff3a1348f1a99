package meshrc.lib.params_test

import data.meshrc.lib.params

test_defaults if {
	params.retries_max == 5
	params.production_namespaces == {"production", "prod"}
}

test_parameters_from_data if {
	params.retries_max == 2 with data.meshrc.params as {"retries_max": 2}
	params.production_namespaces == {"live"} with data.meshrc.params as {"production_namespaces": ["live", 3]}
}

test_mistyped_parameters_fall_back_to_the_defaults if {
	params.retries_max == 5 with data.meshrc.params as {"retries_max": "2"}
	params.production_namespaces == {"production", "prod"} with data.meshrc.params as {"production_namespaces": "live"}
}
