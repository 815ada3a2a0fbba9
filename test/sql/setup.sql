-- Installs the extension and checks what it created.
CREATE EXTENSION order_mgmt;

SELECT extversion, extrelocatable, n.nspname
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE extname = 'order_mgmt';

-- every object of the extension, so an accidental addition shows up here
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'order_mgmt')
  AND deptype = 'e'
ORDER BY 1;

-- nothing is executable by PUBLIC (create_roles() grants what each role needs)
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
FROM pg_proc p
WHERE p.pronamespace = 'order_mgmt'::regnamespace
ORDER BY 1;

-- SECURITY DEFINER functions pin their search_path
SELECT p.proname, p.prosecdef, p.proconfig
FROM pg_proc p
WHERE p.pronamespace = 'order_mgmt'::regnamespace AND p.prosecdef
ORDER BY 1;
