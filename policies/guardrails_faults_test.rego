package meshrc.guardrails.faults_test

import data.meshrc.guardrails.faults
import data.meshrc.test.fixtures as fx

spec := {"http": [{"fault": {"delay": {"fixedDelay": "1s"}}}, {"fault": null}, {"name": "plain"}]}

doc := fx.mesh([fx.vs("prod", "f", spec), fx.vs("production", "f", spec), fx.vs("staging", "f", spec)])

test_fault_injection_in_the_default_production_namespaces if {
	fx.keys(faults.findings) == {
		["no-fault-injection", "prod", "f", "spec.http[0].fault"],
		["no-fault-injection", "production", "f", "spec.http[0].fault"],
	} with input as doc
}

test_production_namespaces_are_a_parameter if {
	fx.keys(faults.findings) == {["no-fault-injection", "staging", "f", "spec.http[0].fault"]} with input as doc
		with data.meshrc.params as {"production_namespaces": ["staging"]}
}

test_message if {
	messages := {f.message | some f in faults.findings} with input as doc
	"http rule 0 injects faults in the production namespace prod: real users would get the delays and errors" in messages
}
