from capi_sysext.cli import main

main()
