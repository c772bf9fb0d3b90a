from django.conf import settings


def navigation(request):
    return {"organization_name": settings.PAYCENTRAL["ORGANIZATION_NAME"]}
