# The tenant's own standing in the registry.
#
# tenant: the tenant record, null when unknown (then known.rego reports it). main.rego asks this
# only for a tenant whose suspended or sanctioned flag is true.
package tollgate.routing

import rego.v1

tenant_reasons(tenant) := suspended | sanctioned if {
	suspended := {r |
		is_suspended(tenant)
		r := {
			"code": "TENANT_SUSPENDED",
			"message": concat("", ["Tenant ", tenant.id, " is suspended (source: ", tenant.source, ")."]),
			"facts": {"tenant": tenant.id, "flag": "suspended", "source": tenant.source},
		}
	}

	sanctioned := {r |
		tenant.sanctioned == true
		r := {
			"code": "TENANT_SUSPENDED",
			"message": concat("", ["Tenant ", tenant.id, " is flagged as sanctioned (source: ", tenant.source, ")."]),
			"facts": {"tenant": tenant.id, "flag": "sanctioned", "source": tenant.source},
		}
	}
}

# The suspension flag (a helper so that an officer can change this one test on its own).
is_suspended(tenant) if tenant.suspended == true
