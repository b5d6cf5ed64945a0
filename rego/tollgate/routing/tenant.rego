# The tenant's own standing in the registry.
package tollgate.routing

import rego.v1

deny contains reason(
	"TENANT_SUSPENDED",
	concat("", ["Tenant ", tenant.id, " is suspended (source: ", tenant.source, ")."]),
	{"tenant": tenant.id, "flag": "suspended", "source": tenant.source},
) if tenant.suspended == true

deny contains reason(
	"TENANT_SUSPENDED",
	concat("", ["Tenant ", tenant.id, " is flagged as sanctioned (source: ", tenant.source, ")."]),
	{"tenant": tenant.id, "flag": "sanctioned", "source": tenant.source},
) if tenant.sanctioned == true
